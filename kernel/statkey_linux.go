package kernel

import (
	"io/fs"
	"syscall"
)

// addSysStat adds the inode number and change time, which Linux reports.
func addSysStat(k *statKey, fi fs.FileInfo) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.Inode = st.Ino
		k.CtimeNS = st.Ctim.Nano()
	}
}
