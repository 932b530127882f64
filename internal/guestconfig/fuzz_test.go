package guestconfig

import (
	"reflect"
	"testing"
)

// FuzzUnmarshal decodes arbitrary guest configs, as the init does at boot.
// What it accepts has a supported version and an app path, and survives
// Marshal and Unmarshal unchanged.
func FuzzUnmarshal(f *testing.F) {
	full, _ := Marshal(&Config{
		Version: Version, Hostname: "web", Modules: []string{"/lib/modules/virtio_net.ko", "/lib/modules/virtio_blk.ko.xz"},
		App:     App{Path: "/app/web", Args: []string{"-v"}, Env: []string{"A=1"}, Dir: "/data", UID: 1000, GID: 1000},
		Data:    Data{Label: "bootapp-data", MountPoint: "/data", Required: true, WaitSeconds: 10},
		Network: Network{DHCP: true, DHCPTimeoutSeconds: 10}, StopTimeoutSeconds: 10, Restart: "on-failure",
		Security: Security{AllowModuleLoading: true},
	})
	f.Add(full)
	f.Add([]byte(`{"version":1,"app":{"path":"/a","uid":0,"gid":0},"data":{},"network":{"dhcp":false}}`))
	f.Add([]byte(`{"version":2,"app":{"path":"/a"}}`))
	f.Add([]byte(`{"version":1,"app":{"path":""}}`))
	f.Add([]byte(`{"version":1,"app":{"path":"/a","uid":-1},"restart":"sometimes","unknown":[1,2]}`))
	f.Add([]byte(`{"version":1e0,"app":{"path":"/a"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Unmarshal(b)
		if err != nil {
			if c != nil {
				t.Fatalf("config %+v returned with error %v", c, err)
			}
			return
		}
		if c.Version < 1 || c.Version > Version || c.App.Path == "" {
			t.Fatalf("accepted version %d, app path %q", c.Version, c.App.Path)
		}
		enc, err := Marshal(c)
		if err != nil {
			t.Fatalf("accepted config does not encode: %v", err)
		}
		back, err := Unmarshal(enc)
		if err != nil {
			t.Fatalf("encoded config %s does not decode: %v", enc, err)
		}
		// Marshal omits empty lists, so compare the encodings.
		if enc2, _ := Marshal(back); !reflect.DeepEqual(enc, enc2) {
			t.Fatalf("round trip changed the config:\n%s\n%s", enc, enc2)
		}
	})
}
