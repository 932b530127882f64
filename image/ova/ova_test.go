package ova

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/image/internal/sparsetest"
	"github.com/bootapp/bootapp/image/sparse"
	"github.com/bootapp/bootapp/image/vmdk"
)

func encode(t *testing.T, img sparsetest.Image, opts Options) []byte {
	t.Helper()
	src, err := os.Open(img.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ext, err := sparse.Extents(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	if err := Write(context.Background(), &buf, src, img.Size, ext, opts); err != nil {
		t.Fatalf("encode %s: %v", img.Name, err)
	}
	if left, _ := os.ReadDir(opts.TempDir); len(left) != 0 {
		t.Errorf("staged VMDK left behind in %s", opts.TempDir)
	}
	return buf.Bytes()
}

// ovfCheck is an independent reader of the descriptor: Python's
// xml.etree, which knows nothing of our template. It prints the facts the
// test compares, one "key=value" per line.
const ovfCheck = `
import sys, xml.etree.ElementTree as ET
ns = {"ovf": "http://schemas.dmtf.org/ovf/envelope/1",
      "rasd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData",
      "vssd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData",
      "vmw": "http://www.vmware.com/schema/ovf"}
O = "{%s}" % ns["ovf"]
V = "{%s}" % ns["vmw"]
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == O + "Envelope", root.tag
f = root.find("ovf:References/ovf:File", ns)
print("href=" + f.get(O + "href"))
print("size=" + f.get(O + "size"))
d = root.find("ovf:DiskSection/ovf:Disk", ns)
print("capacity=" + d.get(O + "capacity"))
print("diskformat=" + d.get(O + "format"))
assert d.get(O + "fileRef") == f.get(O + "id")
vs = root.find("ovf:VirtualSystem", ns)
print("ostype=" + vs.find("ovf:OperatingSystemSection", ns).get(V + "osType"))
hw = vs.find("ovf:VirtualHardwareSection", ns)
print("hardware=" + hw.find("ovf:System/vssd:VirtualSystemType", ns).text)
items = {}
for it in hw.findall("ovf:Item", ns):
    kv = {c.tag.split("}")[1]: (c.text or "") for c in it}
    items[kv["InstanceID"]] = kv
    rt = kv["ResourceType"]
    if rt == "3": print("cpus=" + kv["VirtualQuantity"])
    if rt == "4": print("memory=" + kv["VirtualQuantity"] + " " + kv["AllocationUnits"])
    if rt == "6": print("controller=" + kv["ResourceSubType"])
    if rt == "10": print("nic=" + kv["ResourceSubType"])
    if rt == "17":
        print("diskparent=" + items[kv["Parent"]]["ResourceSubType"])
        print("diskresource=" + kv["HostResource"])
    tags = [c.tag.split("}")[1] for c in it]
    assert tags == sorted(tags), tags
for c in hw.findall("vmw:Config", ns):
    print("config." + c.get(V + "key") + "=" + c.get(V + "value"))
`

func TestIndependentReaders(t *testing.T) {
	sparsetest.NeedQemuImg(t)
	for _, tool := range []string{"tar", "sha256sum", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s not installed", tool)
		}
	}
	dir := t.TempDir()
	for _, img := range []sparsetest.Image{sparsetest.Small(t, dir), sparsetest.Make(t, dir, "odd", 3*sparsetest.MiB+1000, []sparsetest.Write{{Off: 100, Len: 3 * sparsetest.MiB}})} {
		t.Run(img.Name, func(t *testing.T) {
			b := encode(t, img, Options{Name: "web"})
			if b2 := encode(t, img, Options{Name: "web"}); !bytes.Equal(b, b2) {
				t.Fatal("two encodings differ")
			}
			arc := filepath.Join(dir, img.Name+".ova")
			if err := os.WriteFile(arc, b, 0o644); err != nil {
				t.Fatal(err)
			}
			list, err := exec.Command("tar", "-tf", arc).CombinedOutput()
			if err != nil {
				t.Fatalf("tar -tf: %v\n%s", err, list)
			}
			if got := strings.Fields(string(list)); strings.Join(got, " ") != "web.ovf web-disk1.vmdk web.mf" {
				t.Fatalf("tar -tf lists %q, want the descriptor first, the disk, the manifest", got)
			}
			if !bytes.Equal(b[257:263], []byte("ustar\x00")) {
				t.Errorf("first header's magic %q, want POSIX ustar", b[257:263])
			}
			x := filepath.Join(dir, "x-"+img.Name)
			os.Mkdir(x, 0o755)
			if o, err := exec.Command("tar", "-xf", arc, "-C", x).CombinedOutput(); err != nil {
				t.Fatalf("tar -xf: %v\n%s", err, o)
			}
			// The manifest, checked by sha256sum itself (it reads the
			// OpenSSL-style "SHA256(name)= hex" lines).
			c := exec.Command("sha256sum", "--strict", "-c", "web.mf")
			c.Dir = x
			if o, err := c.CombinedOutput(); err != nil || strings.Count(string(o), ": OK") != 2 {
				t.Fatalf("sha256sum -c web.mf: %v\n%s", err, o)
			} else {
				t.Logf("sha256sum -c: %s", strings.ReplaceAll(strings.TrimSpace(string(o)), "\n", "; "))
			}
			vmdkPath := filepath.Join(x, "web-disk1.vmdk")
			fi, err := os.Stat(vmdkPath)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("python3", "-c", ovfCheck, filepath.Join(x, "web.ovf")).CombinedOutput()
			if err != nil {
				t.Fatalf("python3 OVF check: %v\n%s", err, out)
			}
			got := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				k, v, _ := strings.Cut(l, "=")
				got[k] = v
			}
			want := map[string]string{
				"href": "web-disk1.vmdk", "size": strconv.FormatInt(fi.Size(), 10),
				"capacity":   strconv.FormatInt((img.Size+511)/512*512, 10),
				"diskformat": "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized",
				"ostype":     GuestOS, "hardware": HardwareVersion,
				"cpus": "2", "memory": "1024 byte * 2^20",
				"controller": "VirtualSCSI", "nic": "VmxNet3", "diskparent": "VirtualSCSI",
				"diskresource": "ovf:/disk/vmdisk1", "config.firmware": "efi",
				"config.uefi.secureBoot.enabled": "false",
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("OVF %s = %q, want %q", k, got[k], v)
				}
			}
			info := sparsetest.QemuInfo(t, vmdkPath, "-f", "vmdk")
			if info.VirtualSize != (img.Size+511)/512*512 {
				t.Errorf("qemu-img info: virtual size %d", info.VirtualSize)
			}
			if o, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "vmdk", img.Path, vmdkPath).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img compare: %v\n%s", err, o)
			}
			if _, err := exec.LookPath("vmdkinfo"); err == nil { // libvmdk-utils: a second, independent VMDK reader
				o, err := exec.Command("vmdkinfo", vmdkPath).CombinedOutput()
				if err != nil || !strings.Contains(string(o), "Stream optimized") {
					t.Errorf("vmdkinfo: %v\n%s", err, o)
				}
				t.Logf("vmdkinfo:\n%s", o)
			}
		})
	}
}

// TestGoTarReader reads the archive with archive/tar: three regular ustar
// entries whose sizes add up.
func TestGoTarReader(t *testing.T) {
	img := sparsetest.Small(t, t.TempDir())
	tr := tar.NewReader(bytes.NewReader(encode(t, img, Options{})))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || h.Format != tar.FormatUSTAR || h.Uid != 0 {
			t.Errorf("%s: header %+v", h.Name, h)
		}
		names = append(names, h.Name)
	}
	if strings.Join(names, " ") != "bootapp.ovf bootapp-disk1.vmdk bootapp.mf" {
		t.Fatalf("entries %q", names)
	}
}

func TestErrors(t *testing.T) {
	src := bytes.NewReader(make([]byte, 4096))
	for _, tc := range []struct {
		name string
		size int64
		opts Options
	}{
		{"size", 0, Options{}},
		{"name", 4096, Options{Name: "a/b"}},
		{"dot name", 4096, Options{Name: ".x"}},
		{"cpus", 4096, Options{CPUs: -1}},
		{"memory", 4096, Options{MemoryMiB: 1}},
		{"vmdk level", 4096, Options{VMDK: vmdkLevel(42)}},
		{"temp dir", 4096, Options{TempDir: "/nonexistent/dir"}},
	} {
		if err := Write(context.Background(), io.Discard, src, tc.size, nil, tc.opts); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func vmdkLevel(l int) vmdk.Options { return vmdk.Options{Level: l} }
