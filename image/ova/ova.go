package ova

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/bootapp/bootapp/image/sparse"
	"github.com/bootapp/bootapp/image/vmdk"
)

// Options tunes Write. The zero value gives the defaults.
type Options struct {
	// Name names the virtual machine and the files in the archive
	// (NAME.ovf, NAME-disk1.vmdk, NAME.mf). Default: "bootapp". It may hold
	// letters, digits, '.', '_' and '-'.
	Name string
	// CPUs is the number of virtual CPUs. Default: 2.
	CPUs int
	// MemoryMiB is the memory size in MiB. Default: 1024.
	MemoryMiB int
	// TempDir is where the VMDK is staged while the archive is written
	// (os.CreateTemp's dir; "" is the system's temporary directory). Put
	// it on the output's file system.
	TempDir string
	// VMDK tunes the disk's encoder (its ExtentName is set by Write).
	VMDK vmdk.Options
}

// Defaults of Options.
const (
	DefaultName      = "bootapp"
	DefaultCPUs      = 2
	DefaultMemoryMiB = 1024
	// HardwareVersion is the virtual hardware family the descriptor asks
	// for: vmx-14, ESXi 6.7 and later.
	HardwareVersion = "vmx-14"
	// GuestOS is the VMware guest OS identifier the descriptor names.
	GuestOS = "otherLinux64Guest"
)

// modTime is the time of every archive entry, for reproducible output.
var modTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Write writes the raw image src of size bytes to w as an OVA: the OVF
// descriptor, the disk as a streamOptimized VMDK, and the SHA-256
// manifest. extents lists where src may hold data, nil meaning all of it
// (the rules are in package image/sparse).
func Write(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, extents []sparse.Extent, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	if size <= 0 {
		return fmt.Errorf("ova: image size %d must be positive", size)
	}
	disk := opts.Name + "-disk1.vmdk"
	tmp, err := os.CreateTemp(opts.TempDir, ".ova-disk-*.vmdk")
	if err != nil {
		return fmt.Errorf("ova: stage disk: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	vo := opts.VMDK
	vo.ExtentName = disk
	diskHash := sha256.New()
	if err := vmdk.WriteStreamOptimized(ctx, io.MultiWriter(tmp, diskHash), src, size, extents, vo); err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	diskSize, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("ova: stage disk: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("ova: stage disk: %w", err)
	}
	ovf, err := Descriptor(opts, disk, diskSize, (size+511)/512*512)
	if err != nil {
		return err
	}
	ovfSum := sha256.Sum256(ovf)
	mf := fmt.Sprintf("SHA256(%s.ovf)= %s\nSHA256(%s)= %s\n",
		opts.Name, hex.EncodeToString(ovfSum[:]), disk, hex.EncodeToString(diskHash.Sum(nil)))

	tw := tar.NewWriter(w)
	entry := func(name string, n int64) error {
		return tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: name, Size: n, Mode: 0o644,
			ModTime: modTime, Uname: "root", Gname: "root", Format: tar.FormatUSTAR,
		})
	}
	if err := entry(opts.Name+".ovf", int64(len(ovf))); err != nil {
		return fmt.Errorf("ova: write descriptor: %w", err)
	}
	if _, err := tw.Write(ovf); err != nil {
		return fmt.Errorf("ova: write descriptor: %w", err)
	}
	if err := entry(disk, diskSize); err != nil {
		return fmt.Errorf("ova: write disk: %w", err)
	}
	if _, err := io.CopyN(tw, &ctxReader{ctx, tmp}, diskSize); err != nil {
		return fmt.Errorf("ova: write disk: %w", err)
	}
	if err := entry(opts.Name+".mf", int64(len(mf))); err != nil {
		return fmt.Errorf("ova: write manifest: %w", err)
	}
	if _, err := io.WriteString(tw, mf); err != nil {
		return fmt.Errorf("ova: write manifest: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("ova: write: %w", err)
	}
	return nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	for _, c := range o.Name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-", c)) {
			return o, fmt.Errorf("ova: name %q may hold only letters, digits, '.', '_' and '-'", o.Name)
		}
	}
	if len(o.Name) > 80 || o.Name[0] == '.' || o.Name[0] == '-' {
		return o, fmt.Errorf("ova: name %q must start with a letter, digit or '_' and be at most 80 bytes", o.Name)
	}
	if o.CPUs == 0 {
		o.CPUs = DefaultCPUs
	}
	if o.MemoryMiB == 0 {
		o.MemoryMiB = DefaultMemoryMiB
	}
	if o.CPUs < 1 || o.CPUs > 768 {
		return o, fmt.Errorf("ova: %d CPUs out of range 1..768", o.CPUs)
	}
	if o.MemoryMiB < 4 || o.MemoryMiB > 24<<20 {
		return o, fmt.Errorf("ova: memory %d MiB out of range 4..%d", o.MemoryMiB, 24<<20)
	}
	return o, nil
}

// Descriptor returns the OVF descriptor for a VMDK named disk of
// diskSize bytes (the file) holding a disk of capacity bytes. opts must
// hold its defaults (Write fills them in).
func Descriptor(opts Options, disk string, diskSize, capacity int64) ([]byte, error) {
	var b bytes.Buffer
	err := descTmpl.Execute(&b, map[string]any{
		"Name": opts.Name, "Disk": disk, "DiskSize": diskSize, "Capacity": capacity,
		"CPUs": opts.CPUs, "MemoryMiB": opts.MemoryMiB,
		"Hardware": HardwareVersion, "GuestOS": GuestOS,
	})
	if err != nil {
		return nil, fmt.Errorf("ova: descriptor: %w", err)
	}
	return b.Bytes(), nil
}

// descTmpl is the OVF 1.0 descriptor, laid out as VMware's ovftool writes
// it; the rasd elements of each Item are in the schema's (alphabetical)
// order.
var descTmpl = template.Must(template.New("ovf").Parse(`<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="{{.Disk}}" ovf:id="file1" ovf:size="{{.DiskSize}}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="{{.Capacity}}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The VM Network network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{{.Name}}">
    <Info>A bootapp virtual machine</Info>
    <Name>{{.Name}}</Name>
    <OperatingSystemSection ovf:id="101" vmw:osType="{{.GuestOS}}">
      <Info>The kind of installed guest operating system</Info>
      <Description>Other Linux (64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{{.Name}}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>{{.Hardware}}</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>{{.CPUs}} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.CPUs}}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>{{.MemoryMiB}}MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.MemoryMiB}}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on "VM Network"</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
      <vmw:Config ovf:required="false" vmw:key="uefi.secureBoot.enabled" vmw:value="false"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`))
