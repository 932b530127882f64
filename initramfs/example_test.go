package initramfs_test

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"log"

	"github.com/bootapp/bootapp/initramfs"
	"github.com/cavaliergopher/cpio"
)

// An initramfs made of two segments: one that rarely changes (it could be
// cached as bytes) and one per build, each compressed on its own.
func Example() {
	var img bytes.Buffer

	base, err := initramfs.NewWriterOptions(&img, initramfs.Options{Compression: initramfs.Zstd})
	if err != nil {
		log.Fatal(err)
	}
	if err := base.WriteFile("/init", 0o755, []byte("#!/bin/sh\n")); err != nil {
		log.Fatal(err)
	}
	if err := base.Mkdir("/tmp", fs.ModeSticky|0o777); err != nil {
		log.Fatal(err)
	}
	if err := base.Close(); err != nil {
		log.Fatal(err)
	}

	app, err := initramfs.NewWriterOptions(&img, initramfs.Options{Compression: initramfs.Gzip})
	if err != nil {
		log.Fatal(err)
	}
	if err := app.WriteFile("/etc/bootapp/init.json", 0o644, []byte(`{"version":1}`)); err != nil {
		log.Fatal(err)
	}
	if err := app.Symlink("/bin", "app"); err != nil {
		log.Fatal(err)
	}
	if err := app.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("aligned:", img.Len()%4 == 0, "segments:", base.Written()+app.Written() == int64(img.Len()))
	// Output: aligned: true segments: true
}

// Writer output is a plain newc archive: here read back with
// github.com/cavaliergopher/cpio.
func ExampleWriter() {
	var buf bytes.Buffer
	w := initramfs.NewWriter(&buf)
	_ = w.WriteFile("/etc/hostname", 0o644, []byte("app\n"))
	_ = w.Symlink("/sbin/init", "/init")
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	r := cpio.NewReader(&buf)
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if h.Linkname != "" {
			fmt.Println(h.Inode, h.Mode, h.Name, "->", h.Linkname)
			continue
		}
		fmt.Println(h.Inode, h.Mode, h.Name)
	}
	// Output:
	// 1 040755 .
	// 2 040755 etc
	// 3 0100644 etc/hostname
	// 4 040755 sbin
	// 5 0120777 sbin/init -> /init
}
