package main

import (
	"hash/fnv"
	"net"
	"strings"
	"time"
)

// resolvConf renders /etc/resolv.conf for the given name servers and search
// domains. Invalid or unspecified addresses are skipped, and so are search
// domains that are not plain domain names: they come from the network, and
// one holding a newline or a space would add resolver options.
func resolvConf(servers []net.IP, search []string) string {
	var b strings.Builder
	b.WriteString("# written by bootapp-init from DHCP\n")
	var domains []string
	for _, d := range search {
		if validDomain(d) {
			domains = append(domains, d)
		}
	}
	if len(domains) > 0 {
		b.WriteString("search " + strings.Join(domains, " ") + "\n")
	}
	for _, ip := range servers {
		if ip == nil || ip.IsUnspecified() {
			continue
		}
		b.WriteString("nameserver " + ip.String() + "\n")
	}
	return b.String()
}

// validDomain accepts a DNS search domain: letters, digits, '-', '_' and
// '.', at most 253 bytes.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, r := range d {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// transactionID derives a DHCP transaction ID from the interface's hardware
// address and the time since boot: unique enough between clients and
// attempts, and available before the kernel's random pool is ready.
func transactionID(hw net.HardwareAddr, now time.Duration) [4]byte {
	h := fnv.New32a()
	h.Write(hw)
	var b [8]byte
	for i := range b {
		b[i] = byte(uint64(now) >> (8 * i))
	}
	h.Write(b[:])
	var x [4]byte
	copy(x[:], h.Sum(nil))
	return x
}
