package qemu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultBinary is the QEMU system emulator started when Config.Binary is
// empty. It is looked up in PATH.
const DefaultBinary = "qemu-system-x86_64"

// OVMFDirs returns the directories FindOVMF searches, in order: Debian and
// Ubuntu's ovmf package, then Fedora's and Arch's edk2-ovmf.
func OVMFDirs() []string {
	return []string{"/usr/share/OVMF", "/usr/share/edk2/ovmf", "/usr/share/edk2/x64"}
}

// ErrNoQEMU reports that the QEMU binary was not found. Errors returned by
// FindQEMU and Start wrap it and say how to install QEMU.
var ErrNoQEMU = errors.New("QEMU not found")

// ErrNoOVMF reports that no OVMF (UEFI firmware for QEMU) was found. Errors
// returned by FindOVMF and Start wrap it and say how to install OVMF.
var ErrNoOVMF = errors.New("OVMF firmware not found")

// installError is a not-found error with a message that tells the user what
// to install, and a sentinel for errors.Is.
type installError struct {
	msg      string
	sentinel error
}

func (e *installError) Error() string { return e.msg }
func (e *installError) Unwrap() error { return e.sentinel }

// ovmfPairs are the firmware code and variable-store file names tried in each
// directory, in order of preference. The 4 MiB builds come first: they are
// what Debian ships by default since bookworm.
var ovmfPairs = [][2]string{
	{"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"},
	{"OVMF_CODE.4m.fd", "OVMF_VARS.4m.fd"},
	{"OVMF_CODE.fd", "OVMF_VARS.fd"},
}

// FindOVMF returns the paths of the OVMF firmware code and of the variable
// store template found in the first of OVMFDirs that holds both. The error
// wraps ErrNoOVMF and names the directories searched.
func FindOVMF() (code, vars string, err error) {
	return findOVMF(OVMFDirs())
}

func findOVMF(dirs []string) (code, vars string, err error) {
	for _, d := range dirs {
		for _, p := range ovmfPairs {
			c, v := filepath.Join(d, p[0]), filepath.Join(d, p[1])
			if isFile(c) && isFile(v) {
				return c, v, nil
			}
		}
	}
	return "", "", &installError{
		msg:      fmt.Sprintf("OVMF firmware not found in %s: install it with `sudo apt-get install ovmf`", strings.Join(dirs, ", ")),
		sentinel: ErrNoOVMF,
	}
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// FindQEMU returns the path of the QEMU binary: bin itself when it contains a
// slash, else bin (DefaultBinary when empty) looked up in PATH. The error
// wraps ErrNoQEMU.
func FindQEMU(bin string) (string, error) {
	if bin == "" {
		bin = DefaultBinary
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", &installError{
			msg:      fmt.Sprintf("%s not found: install it with `sudo apt-get install qemu-system-x86`", bin),
			sentinel: ErrNoQEMU,
		}
	}
	return p, nil
}
