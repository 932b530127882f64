package main

import (
	"os"
	"path/filepath"
	"strings"
)

// cloud names a cloud whose metadata service the init knows.
type cloud string

// The clouds the init recognises; cloudNone is any other machine.
const (
	cloudNone      cloud = ""
	cloudAWS       cloud = "aws"
	cloudGCP       cloud = "gcp"
	cloudAzure     cloud = "azure"
	cloudOpenStack cloud = "openstack"
)

// dmiDir is where the kernel exposes the SMBIOS strings (CONFIG_DMIID).
const dmiDir = "/sys/class/dmi/id"

// azureAssetTag is the chassis asset tag of every Azure VM; plain Hyper-V
// machines have the same vendor but not this tag.
const azureAssetTag = "7783-7084-3265-9085-8269-3286-77"

// dmi holds the SMBIOS strings that tell clouds apart.
type dmi struct {
	sysVendor, productName, productVersion, boardVendor, chassisAssetTag, biosVendor, biosVersion string
}

// readDMI reads the strings from dir; a missing file reads as "".
func readDMI(dir string) dmi {
	get := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	return dmi{
		sysVendor:       get("sys_vendor"),
		productName:     get("product_name"),
		productVersion:  get("product_version"),
		boardVendor:     get("board_vendor"),
		chassisAssetTag: get("chassis_asset_tag"),
		biosVendor:      get("bios_vendor"),
		biosVersion:     get("bios_version"),
	}
}

// detectCloud tells the cloud from the DMI strings, without any network
// traffic: each cloud's hypervisor names itself there.
func detectCloud(d dmi) cloud {
	switch {
	case d.sysVendor == "Amazon EC2" || d.boardVendor == "Amazon EC2" ||
		// Xen-based instances: "Xen" with an "amazon" BIOS version.
		strings.Contains(strings.ToLower(d.biosVersion), "amazon"):
		return cloudAWS
	case d.sysVendor == "Google" || d.productName == "Google Compute Engine":
		return cloudGCP
	case d.sysVendor == "Microsoft Corporation" && d.chassisAssetTag == azureAssetTag:
		return cloudAzure
	case strings.HasPrefix(d.sysVendor, "OpenStack") || strings.HasPrefix(d.productName, "OpenStack"):
		return cloudOpenStack
	}
	return cloudNone
}

// defaultNTP returns the time service of cloud c, or "" when it has none
// at a well-known address. Azure gives the time through Hyper-V instead.
func defaultNTP(c cloud) string {
	switch c {
	case cloudAWS:
		return "169.254.169.123"
	case cloudGCP:
		return "169.254.169.254" // metadata.google.internal
	}
	return ""
}
