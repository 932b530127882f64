package main

import (
	"fmt"
	"strconv"
	"strings"
)

// appAccount is the user and group name the init gives the app's UID and GID
// when /etc/passwd or /etc/group has no entry for them. UID 0 is "root".
const appAccount = "app"

// ensurePasswd returns passwd (the contents of /etc/passwd) with an entry
// for uid added when none exists, and whether it added one. The entry is
// named "app" (or "app<uid>" if "app" is taken), has gid as its primary
// group, home as its home directory and no login shell.
func ensurePasswd(passwd string, uid, gid int, home string) (string, bool) {
	if hasID(passwd, uid) {
		return passwd, false
	}
	name := accountName(passwd, uid)
	if passwd != "" && !strings.HasSuffix(passwd, "\n") {
		passwd += "\n"
	}
	return passwd + fmt.Sprintf("%s:x:%d:%d:%s:%s:/sbin/nologin\n", name, uid, gid, name, home), true
}

// ensureGroup returns group (the contents of /etc/group) with an entry for
// gid added when none exists, and whether it added one.
func ensureGroup(group string, gid int) (string, bool) {
	if hasID(group, gid) {
		return group, false
	}
	name := accountName(group, gid)
	if group != "" && !strings.HasSuffix(group, "\n") {
		group += "\n"
	}
	return group + fmt.Sprintf("%s:x:%d:\n", name, gid), true
}

// accountName picks the name for a new entry in db: "root" for ID 0, else
// "app", else "app<id>" when "app" names another ID already.
func accountName(db string, id int) string {
	base := appAccount
	if id == 0 {
		base = "root"
	}
	taken := map[string]bool{}
	for _, line := range strings.Split(db, "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok {
			taken[name] = true
		}
	}
	// "app" ("root" for id 0), else "app<id>", else "app<id>-2" ...:
	// never a name the database has already (with another id).
	name := base
	for n := 1; taken[name]; n++ {
		name = base + strconv.Itoa(id)
		if n > 1 {
			name += "-" + strconv.Itoa(n)
		}
	}
	return name
}

// hasID reports whether db, in passwd or group format, has an entry whose
// third field (the UID or GID) is id.
func hasID(db string, id int) bool {
	want := strconv.Itoa(id)
	for _, line := range strings.Split(db, "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[2] == want {
			return true
		}
	}
	return false
}
