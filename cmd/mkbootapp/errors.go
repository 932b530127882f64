package main

import (
	"errors"

	"github.com/bootapp/bootapp/builder"
)

// specFlags maps builder.Spec fields, as builder.FieldError names them, to
// the build command's flags. A field without a flag is set in the --config
// file only.
var specFlags = map[string]string{
	"name":                      "--name",
	"app.path":                  "--app",
	"app.entrypoint":            "--entrypoint",
	"app.runtime":               "--runtime",
	"app.runtime_path":          "--runtime-path",
	"app.main_class":            "--main-class",
	"app.java_modules":          "--java-modules",
	"app.args":                  "--arg",
	"app.env":                   "--env",
	"app.work_dir":              "--workdir",
	"app.ports":                 "--port",
	"app.stop_timeout":          "--stop-timeout",
	"app.restart":               "--restart",
	"app.restart_limit":         "--restart-limit",
	"app.restart_window":        "--restart-window",
	"network.static":            "--static-ip",
	"network.ntp":               "--ntp",
	"app.keep_debug":            "--keep-debug",
	"app.sysroot":               "--sysroot",
	"app.extra_files":           "--extra-file",
	"system.ca_certificates":    "--ca-certificates",
	"system.timezones":          "--timezone",
	"kernel.deb":                "--kernel",
	"kernel.url":                "--kernel-url",
	"kernel.checksum":           "--kernel-checksum",
	"platform":                  "--platform",
	"bootloader":                "--bootloader",
	"cache_dir":                 "--cache",
	"output_dir":                "--output",
	"boot_disk.size":            "--disk-size",
	"boot_disk.formats":         "--format",
	"compression":               "--compression",
	"cmdline":                   "--cmdline",
	"allow_module_loading":      "--allow-module-loading",
	"data_volume.size":          "--data-size",
	"data_volume.label":         "--data-label",
	"data_volume.formats":       "--data-format",
	"data_volume.disabled":      "--no-data",
	"data_volume.uuid":          "--data-uuid",
	"data_volume.serial":        "--data-serial",
	"data_volume.mount_options": "--data-mount-option",
	"data_volume.optional":      "--data-optional",
	"health.port":               "--health-port",
	"health.path":               "--health-path",
	"health.timeout":            "--health-timeout",
	"data_volume.mount_point":   "",
}

// cliError is an engine error worded for the command line: the Spec field
// replaced by the flag that sets it, and the fix in this tool's terms.
type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// renderError words a builder error for the command line. Errors that are
// not about a Spec field are returned unchanged.
func renderError(err error) error {
	var fe *builder.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	name := specFlags[fe.Field]
	if name == "" {
		name = fe.Field + " (in the --config file)"
	}
	msg := name + ": " + fe.Msg
	if errors.Is(fe, builder.ErrNotCached) {
		msg += ": run `mkbootapp fetch` to download it, or pass " + name
	}
	return &cliError{msg: msg, err: err}
}
