package main

import "testing"

func TestEnsurePasswd(t *testing.T) {
	tests := []struct {
		name, passwd string
		uid, gid     int
		want         string
		changed      bool
	}{
		{"empty", "", 1000, 1000, "app:x:1000:1000:app:/data:/sbin/nologin\n", true},
		{"present", "me:x:1000:1000::/home/me:/bin/sh\n", 1000, 1000, "me:x:1000:1000::/home/me:/bin/sh\n", false},
		{"no final newline", "root:x:0:0:root:/root:/bin/sh", 1000, 100,
			"root:x:0:0:root:/root:/bin/sh\napp:x:1000:100:app:/data:/sbin/nologin\n", true},
		{"name taken", "app:x:1001:1001::/:/bin/sh\n", 1000, 1000,
			"app:x:1001:1001::/:/bin/sh\napp1000:x:1000:1000:app1000:/data:/sbin/nologin\n", true},
		{"root", "", 0, 0, "root:x:0:0:root:/data:/sbin/nologin\n", true},
		{"uid in another field only", "x:x:5:1000::/:/bin/sh\n", 1000, 1000,
			"x:x:5:1000::/:/bin/sh\napp:x:1000:1000:app:/data:/sbin/nologin\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := ensurePasswd(tt.passwd, tt.uid, tt.gid, "/data")
			if got != tt.want || changed != tt.changed {
				t.Errorf("ensurePasswd = %q, %v; want %q, %v", got, changed, tt.want, tt.changed)
			}
		})
	}
}

func TestEnsureGroup(t *testing.T) {
	tests := []struct {
		name, group string
		gid         int
		want        string
		changed     bool
	}{
		{"empty", "", 1000, "app:x:1000:\n", true},
		{"present", "users:x:100:\n", 100, "users:x:100:\n", false},
		{"append", "root:x:0:", 1000, "root:x:0:\napp:x:1000:\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := ensureGroup(tt.group, tt.gid)
			if got != tt.want || changed != tt.changed {
				t.Errorf("ensureGroup = %q, %v; want %q, %v", got, changed, tt.want, tt.changed)
			}
		})
	}
}
