package main

import (
	"net"
	"testing"
	"time"
)

func TestResolvConf(t *testing.T) {
	tests := []struct {
		name    string
		servers []net.IP
		search  []string
		want    string
	}{
		{"qemu", []net.IP{net.IPv4(10, 0, 2, 3)}, nil, "# written by bootapp-init from DHCP\nnameserver 10.0.2.3\n"},
		{"search and two servers", []net.IP{net.IPv4(10, 0, 0, 2), net.IPv4(10, 0, 0, 3)}, []string{"ec2.internal", "example.com"},
			"# written by bootapp-init from DHCP\nsearch ec2.internal example.com\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n"},
		{"unspecified skipped", []net.IP{net.IPv4zero, nil, net.IPv4(1, 1, 1, 1)}, nil, "# written by bootapp-init from DHCP\nnameserver 1.1.1.1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolvConf(tt.servers, tt.search); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTransactionID(t *testing.T) {
	hw1 := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	hw2 := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x57}
	a := transactionID(hw1, time.Second)
	if a != transactionID(hw1, time.Second) {
		t.Error("same inputs gave different IDs")
	}
	if a == transactionID(hw2, time.Second) {
		t.Error("different MACs gave the same ID")
	}
	if a == transactionID(hw1, time.Second+time.Nanosecond) {
		t.Error("different times gave the same ID")
	}
}
