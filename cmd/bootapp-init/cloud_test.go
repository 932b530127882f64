package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDetectCloud(t *testing.T) {
	tests := []struct {
		name string
		d    dmi
		want cloud
	}{
		{"aws nitro", dmi{sysVendor: "Amazon EC2", productName: "m5.large", biosVendor: "Amazon EC2"}, cloudAWS},
		{"aws metal board", dmi{sysVendor: "", boardVendor: "Amazon EC2"}, cloudAWS},
		{"aws xen", dmi{sysVendor: "Xen", productName: "HVM domU", biosVendor: "Xen", biosVersion: "4.11.amazon"}, cloudAWS},
		{"gcp", dmi{sysVendor: "Google", productName: "Google Compute Engine", biosVendor: "Google"}, cloudGCP},
		{"azure", dmi{sysVendor: "Microsoft Corporation", productName: "Virtual Machine", chassisAssetTag: azureAssetTag}, cloudAzure},
		{"hyper-v not azure", dmi{sysVendor: "Microsoft Corporation", productName: "Virtual Machine", chassisAssetTag: "None"}, cloudNone},
		{"openstack", dmi{sysVendor: "OpenStack Foundation", productName: "OpenStack Nova"}, cloudOpenStack},
		{"qemu", dmi{sysVendor: "QEMU", productName: "Standard PC (Q35 + ICH9, 2009)", biosVendor: "EDK II"}, cloudNone},
		{"plain xen", dmi{sysVendor: "Xen", biosVersion: "4.16"}, cloudNone},
		{"nothing", dmi{}, cloudNone},
	}
	for _, tt := range tests {
		if got := detectCloud(tt.d); got != tt.want {
			t.Errorf("%s: detectCloud = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestReadDMI(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]string{"sys_vendor": "Amazon EC2\n", "product_name": "t3.micro\n", "chassis_asset_tag": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := readDMI(dir)
	if d.sysVendor != "Amazon EC2" || d.productName != "t3.micro" || d.chassisAssetTag != "x" || d.boardVendor != "" {
		t.Errorf("readDMI = %+v", d)
	}
	if detectCloud(d) != cloudAWS {
		t.Errorf("not AWS")
	}
	if defaultNTP(cloudAWS) != "169.254.169.123" || defaultNTP(cloudNone) != "" {
		t.Errorf("defaultNTP")
	}
}
