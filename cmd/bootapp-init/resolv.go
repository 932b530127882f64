package main

import (
	"net"
	"strings"
)

// resolvConf renders /etc/resolv.conf for the given name servers and search
// domains. Invalid or unspecified addresses are skipped.
func resolvConf(servers []net.IP, search []string) string {
	var b strings.Builder
	b.WriteString("# written by bootapp-init from DHCP\n")
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	for _, ip := range servers {
		if ip == nil || ip.IsUnspecified() {
			continue
		}
		b.WriteString("nameserver " + ip.String() + "\n")
	}
	return b.String()
}
