package builder

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image"
)

func TestParseSpecDurationsAndSizes(t *testing.T) {
	tests := []struct {
		name string
		json string
		want Spec
	}{
		{
			name: "strings",
			json: `{"app":{"path":"a","stop_timeout":"1m30s"},"health":{"port":80,"timeout":"10s"},
				"boot_disk":{"size":"128M"},"data_volume":{"size":"1.5G"}}`,
			want: Spec{
				App:        App{Path: "a", StopTimeout: 90 * time.Second},
				Health:     &HealthCheck{Port: 80, Timeout: 10 * time.Second},
				BootDisk:   Disk{Size: 128 << 20},
				DataVolume: DataVolume{Size: 3 << 29},
			},
		},
		{
			name: "integers, as earlier releases wrote them",
			json: `{"app":{"path":"a","stop_timeout":5000000000},"health":{"port":80,"timeout":120000000000},
				"boot_disk":{"size":134217728},"data_volume":{"size":1073741824}}`,
			want: Spec{
				App:        App{Path: "a", StopTimeout: 5 * time.Second},
				Health:     &HealthCheck{Port: 80, Timeout: 2 * time.Minute},
				BootDisk:   Disk{Size: 128 << 20},
				DataVolume: DataVolume{Size: 1 << 30},
			},
		},
		{
			name: "bare number in a size string is bytes; null and absent keep zero",
			json: `{"app":{"path":"a","stop_timeout":null},"boot_disk":{"size":"134217728"},"data_volume":{"label":"d"}}`,
			want: Spec{
				App:        App{Path: "a"},
				BootDisk:   Disk{Size: 128 << 20},
				DataVolume: DataVolume{Label: "d"},
			},
		},
		{
			name: "other fields still decode",
			json: `{"name":"web","app":{"path":"a","args":["-v"],"ports":[80,443],"keep_debug":true},
				"kernel":{"deb":"k.deb"},"boot_disk":{"formats":["qcow2"]},"data_volume":{"disabled":true}}`,
			want: Spec{
				Name:       "web",
				App:        App{Path: "a", Args: []string{"-v"}, Ports: []int{80, 443}, KeepDebug: true},
				Kernel:     KernelSource{Deb: "k.deb"},
				BootDisk:   Disk{Formats: []image.Format{image.QCOW2}},
				DataVolume: DataVolume{Disabled: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSpec([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseSpec:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		name, json string
		want       []string // substrings of the error
		spec       bool     // a FieldError wrapping ErrInvalidSpec
	}{
		{"unknown top-level key", `{"bogus":1}`, []string{"bogus: unknown key", "the spec has the keys", "data_volume"}, true},
		{"unknown nested key", `{"app":{"path":"a","stoptimeout":"1s"}}`, []string{"app.stoptimeout: unknown key", "stop_timeout"}, true},
		{"unknown key in health", `{"health":{"port":1,"interval":"1s"}}`, []string{"health.interval: unknown key"}, true},
		{"unknown key in kernel", `{"kernel":{"sha256":"x"}}`, []string{"kernel.sha256: unknown key"}, true},
		{"key in the wrong case", `{"App":{"path":"a"}}`, []string{"App: unknown key"}, true},
		{"Go field name", `{"app":{"StopTimeout":1}}`, []string{"app.StopTimeout: unknown key"}, true},
		{"Progress is not a key", `{"Progress":null}`, []string{"Progress: unknown key"}, true},
		{"bad duration string", `{"app":{"stop_timeout":"10 s"}}`, []string{"app.stop_timeout", `"10 s" is not a duration`, `"10s"`, "nanoseconds"}, true},
		{"duration without unit", `{"health":{"timeout":"30"}}`, []string{"health.timeout", `"30" is not a duration`}, true},
		{"fractional nanoseconds", `{"app":{"stop_timeout":1.5}}`, []string{"app.stop_timeout", "1.5 is not a duration"}, true},
		{"duration as bool", `{"app":{"stop_timeout":true}}`, []string{"app.stop_timeout", "true is not a duration"}, true},
		{"empty duration", `{"app":{"stop_timeout":""}}`, []string{"app.stop_timeout", `"" is not a duration`}, true},
		{"bad size string", `{"data_volume":{"size":"1X"}}`, []string{"data_volume.size", `unknown unit "X"`, "want a number of bytes"}, true},
		{"decimal size unit", `{"boot_disk":{"size":"100MB"}}`, []string{"boot_disk.size", "decimal unit MB"}, true},
		{"fractional bytes", `{"data_volume":{"size":"0.4"}}`, []string{"data_volume.size", "not a whole number of bytes"}, true},
		{"negative size string", `{"data_volume":{"size":"-1G"}}`, []string{"data_volume.size", "negative"}, true},
		{"size overflow", `{"data_volume":{"size":"99999999999T"}}`, []string{"data_volume.size", "too large"}, true},
		{"size as float", `{"boot_disk":{"size":1e9}}`, []string{"boot_disk.size", "1e9 is not a size"}, true},
		{"integer overflow", `{"boot_disk":{"size":9223372036854775808}}`, []string{"boot_disk.size", "is not a size"}, true},
		{"trailing data", `{"name":"a"} {"name":"b"}`, []string{"invalid character"}, false},
		{"syntax", `{"name":`, []string{"unexpected end"}, false},
		{"type mismatch", `{"app":{"ports":"80"}}`, []string{"cannot unmarshal string", "field Spec.app.ports of"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tt.json))
			if err == nil {
				t.Fatal("ParseSpec accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if got := errors.Is(err, ErrInvalidSpec); got != tt.spec {
				t.Errorf("errors.Is(%v, ErrInvalidSpec) = %v, want %v", err, got, tt.spec)
			}
		})
	}
}

// TestManifestJSONRoundTrip checks that a Result still encodes durations and
// sizes as integers (readable by earlier releases) and reads back equal, and
// that a manifest with duration strings reads too.
func TestManifestJSONRoundTrip(t *testing.T) {
	r := Result{
		Files:    []File{{Path: "a.raw", Role: RoleBoot, Format: image.Raw, Size: 1 << 27, SHA256: "ab"}},
		Manifest: "a.manifest.json",
		Spec: Spec{
			Name:       "a",
			App:        App{Path: "a", StopTimeout: 10 * time.Second},
			BootDisk:   Disk{Size: 1 << 27, Formats: []image.Format{image.Raw}},
			DataVolume: DataVolume{Size: 1 << 30, Label: "bootapp-data"},
			Health:     &HealthCheck{Port: 80, Timeout: 2 * time.Minute},
		},
		Duration: 1500 * time.Millisecond,
	}
	data, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"stop_timeout":10000000000`, `"timeout":120000000000`, `"size":1073741824`, `"duration":1500000000`} {
		if !strings.Contains(string(data), w) {
			t.Errorf("manifest %s lacks %s", data, w)
		}
	}
	var back Result
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, r)
	}

	withStrings := strings.NewReplacer(`10000000000`, `"10s"`, `120000000000`, `"2m"`, `1500000000`, `"1.5s"`).Replace(string(data))
	back = Result{}
	if err := json.Unmarshal([]byte(withStrings), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("manifest with duration strings:\n got %+v\nwant %+v", back, r)
	}
}

// TestUnmarshalKeepsAbsentFields checks that, as with encoding/json's own
// decoding, keys missing from the JSON leave the fields already set.
func TestUnmarshalKeepsAbsentFields(t *testing.T) {
	a := App{Path: "a", StopTimeout: time.Second}
	if err := json.Unmarshal([]byte(`{"restart":"always"}`), &a); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, App{Path: "a", StopTimeout: time.Second, Restart: "always"}) {
		t.Errorf("app = %+v", a)
	}
	d := DataVolume{Size: 5 << 20}
	if err := json.Unmarshal([]byte(`{"label":"x"}`), &d); err != nil {
		t.Fatal(err)
	}
	if d.Size != 5<<20 || d.Label != "x" {
		t.Errorf("data volume = %+v", d)
	}
}
