package sbom_test

import (
	"encoding/json"
	"errors"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/sbom"
	"github.com/bootapp/bootapp/internal/sbom/sbomtest"
)

const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func image(contains ...sbom.Component) sbom.Component {
	return sbom.Component{Name: "hello", FileName: "hello.raw", SHA256: sum, Purpose: sbom.PurposeContainer, Contains: contains}
}

func TestNew(t *testing.T) {
	kernel := sbom.Component{Name: "linux-image-9.9.9-1-test-amd64", Version: "9.9.9-1",
		PURL: sbom.DebPURL("linux-image-9.9.9-1-test-amd64", "9.9.9-1", "amd64"), SHA256: sum, Purpose: sbom.PurposeOperatingSystem}
	xsys := sbom.Component{Name: "golang.org/x/sys", Version: "v0.50.0", PURL: sbom.GoPURL("golang.org/x/sys", "v0.50.0")}
	tests := []struct {
		name      string
		root      sbom.Component
		packages  []string // SPDXIDs in order
		relations []string // "FROM TYPE TO"
		wantErr   bool
	}{
		{
			name:      "image only",
			root:      image(),
			packages:  []string{"SPDXRef-hello"},
			relations: []string{"SPDXRef-DOCUMENT DESCRIBES SPDXRef-hello"},
		},
		{
			name: "kernel and two executables sharing a module",
			root: image(kernel,
				sbom.Component{Name: "bootapp-init", Contains: []sbom.Component{xsys}},
				sbom.Component{Name: "hello", Contains: []sbom.Component{xsys, {Name: "example.com/m", Version: "(devel)"}}}),
			packages: []string{"SPDXRef-hello", "SPDXRef-linux-image-9.9.9-1-test-amd64-9.9.9-1",
				"SPDXRef-bootapp-init", "SPDXRef-golang.org-x-sys-v0.50.0", "SPDXRef-hello-2", "SPDXRef-example.com-m"},
			relations: []string{
				"SPDXRef-DOCUMENT DESCRIBES SPDXRef-hello",
				"SPDXRef-hello CONTAINS SPDXRef-linux-image-9.9.9-1-test-amd64-9.9.9-1",
				"SPDXRef-bootapp-init CONTAINS SPDXRef-golang.org-x-sys-v0.50.0",
				"SPDXRef-hello CONTAINS SPDXRef-bootapp-init",
				"SPDXRef-hello-2 CONTAINS SPDXRef-golang.org-x-sys-v0.50.0",
				"SPDXRef-hello-2 CONTAINS SPDXRef-example.com-m",
				"SPDXRef-hello CONTAINS SPDXRef-hello-2",
			},
		},
		{name: "bad checksum", root: image(sbom.Component{Name: "x", SHA256: "abc"}), wantErr: true},
		{name: "nameless component", root: image(sbom.Component{}), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := sbom.New(tt.root, sbom.Options{Name: "hello", Created: time.Unix(1700000000, 0)})
			if tt.wantErr {
				if !errors.Is(err, sbom.ErrInvalid) {
					t.Fatalf("New = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids, rels []string
			for _, p := range doc.Packages {
				ids = append(ids, p.SPDXID)
			}
			for _, r := range doc.Relationships {
				rels = append(rels, r.SPDXElementID+" "+r.RelationshipType+" "+r.RelatedSPDXElement)
			}
			if strings.Join(ids, "\n") != strings.Join(tt.packages, "\n") {
				t.Errorf("packages:\n%s\nwant:\n%s", strings.Join(ids, "\n"), strings.Join(tt.packages, "\n"))
			}
			if strings.Join(rels, "\n") != strings.Join(tt.relations, "\n") {
				t.Errorf("relationships:\n%s\nwant:\n%s", strings.Join(rels, "\n"), strings.Join(tt.relations, "\n"))
			}
			b, err := doc.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if err := sbomtest.Validate(b); err != nil {
				t.Errorf("invalid SPDX: %v\n%s", err, b)
			}
			if doc.CreationInfo.Created != "2023-11-14T22:13:20Z" {
				t.Errorf("created = %q", doc.CreationInfo.Created)
			}
			again, _ := sbom.New(tt.root, sbom.Options{Name: "hello", Created: time.Unix(1700000000, 0)})
			if b2, _ := again.Marshal(); string(b2) != string(b) {
				t.Error("two documents of the same components differ")
			}
		})
	}
}

func TestNamespaceFollowsContent(t *testing.T) {
	ns := func(root sbom.Component, at int64) string {
		d, err := sbom.New(root, sbom.Options{Name: "hello", Created: time.Unix(at, 0)})
		if err != nil {
			t.Fatal(err)
		}
		return d.DocumentNamespace
	}
	a := ns(image(), 0)
	if !strings.HasPrefix(a, sbom.NamespacePrefix+"hello-") {
		t.Errorf("namespace %q", a)
	}
	other := image()
	other.SHA256 = strings.Repeat("f", 64)
	for _, b := range []string{ns(other, 0), ns(image(), 1)} {
		if a == b {
			t.Errorf("different documents share the namespace %s", a)
		}
	}
	if ns(image(), 0) != a {
		t.Error("the same document got another namespace")
	}
}

func TestPURL(t *testing.T) {
	tests := []struct{ got, want string }{
		{sbom.DebPURL("systemd-boot-efi", "252.39-1~deb12u2", "amd64"), "pkg:deb/debian/systemd-boot-efi@252.39-1~deb12u2?arch=amd64"},
		{sbom.DebPURL("libfoo", "1:2.0+dfsg-1", "amd64"), "pkg:deb/debian/libfoo@1:2.0%2Bdfsg-1?arch=amd64"},
		{sbom.GoPURL("github.com/klauspost/compress", "v1.20.4"), "pkg:golang/github.com/klauspost/compress@v1.20.4"},
		{sbom.GoPURL("github.com/bootapp/bootapp", "(devel)"), "pkg:golang/github.com/bootapp/bootapp"},
		{sbom.GoPURL("example.com/a b", "v0.0.0-2024+incompatible"), "pkg:golang/example.com/a%20b@v0.0.0-2024%2Bincompatible"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

func TestGoModules(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "example.com/app", Version: "(devel)"},
		Deps: []*debug.Module{
			{Path: "golang.org/x/sys", Version: "v0.50.0", Sum: "h1:abc="},
			{Path: "example.com/old", Version: "v1.0.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.0.1", Sum: "h1:def="}},
		},
	}
	got := sbom.GoModules(bi)
	var lines []string
	for _, c := range got {
		lines = append(lines, c.Name+" "+c.Version+" "+c.PURL+" "+c.Comment)
	}
	want := []string{
		"example.com/app (devel) pkg:golang/example.com/app main module of the executable",
		"golang.org/x/sys v0.50.0 pkg:golang/golang.org/x/sys@v0.50.0 go.sum h1:abc=",
		"example.com/fork v1.0.1 pkg:golang/example.com/fork@v1.0.1 replaces example.com/old v1.0.0; go.sum h1:def=",
		"stdlib go1.26.8 pkg:golang/stdlib@1.26.8 Go standard library and runtime",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("GoModules:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if sbom.GoModules(nil) != nil {
		t.Error("GoModules(nil) is not nil")
	}
}

// TestSchemaCatchesErrors makes sure the validator is not vacuous.
func TestSchemaCatchesErrors(t *testing.T) {
	doc, err := sbom.New(image(), sbom.Options{Name: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(doc)
	var m map[string]any
	json.Unmarshal(b, &m)
	m["relationships"] = []any{map[string]any{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "OWNS", "relatedSpdxElement": "SPDXRef-hello"}}
	bad, _ := json.Marshal(m)
	if err := sbomtest.Validate(bad); err == nil {
		t.Error("a relationship type outside SPDX 2.3 passed the schema")
	}
	delete(m, "creationInfo")
	bad, _ = json.Marshal(m)
	if err := sbomtest.Validate(bad); err == nil {
		t.Error("a document without creationInfo passed the schema")
	}
}
