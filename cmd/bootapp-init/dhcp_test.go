package main

import (
	"testing"
	"time"
)

func TestDHCPBackoff(t *testing.T) {
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
	var total time.Duration
	for n, w := range want {
		if got := dhcpBackoff(n); got != w {
			t.Errorf("dhcpBackoff(%d) = %s, want %s", n, got, w)
		}
		total += w + dhcpAttemptTimeout
	}
	if got := dhcpBackoff(1000); got != dhcpBackoffMax {
		t.Errorf("dhcpBackoff(1000) = %s", got)
	}
	// A DHCP server that comes back within a minute is found within
	// dhcpBackoffMax plus one attempt of it, even without a carrier event.
	if dhcpBackoffMax+2*dhcpAttemptTimeout > 10*time.Second {
		t.Errorf("worst extra delay %s after the server is back", dhcpBackoffMax+2*dhcpAttemptTimeout)
	}
	t.Logf("first %d attempts span %s", len(want), total)
}

func TestLeaseTimes(t *testing.T) {
	h := time.Hour
	tests := []struct {
		lease, t1, t2         time.Duration
		renew, rebind, expire time.Duration
	}{
		{lease: 24 * h, renew: 12 * h, rebind: 21 * h, expire: 24 * h},
		{lease: 0, renew: 30 * time.Minute, rebind: 52*time.Minute + 30*time.Second, expire: h},
		{lease: 10 * h, t1: 2 * h, t2: 4 * h, renew: 2 * h, rebind: 4 * h, expire: 10 * h},
		{lease: 10 * h, t1: 11 * h, t2: 12 * h, renew: 5 * h, rebind: 8*h + 45*time.Minute, expire: 10 * h},
		{lease: 10 * h, t1: 9 * h, t2: 3 * h, renew: 9 * h, rebind: 9 * h, expire: 10 * h},
	}
	for _, tt := range tests {
		r, b, e := leaseTimes(tt.lease, tt.t1, tt.t2)
		if r != tt.renew || b != tt.rebind || e != tt.expire {
			t.Errorf("leaseTimes(%s, %s, %s) = %s %s %s, want %s %s %s", tt.lease, tt.t1, tt.t2, r, b, e, tt.renew, tt.rebind, tt.expire)
		}
		if !(r <= b && b <= e) {
			t.Errorf("leaseTimes(%s, %s, %s) out of order", tt.lease, tt.t1, tt.t2)
		}
	}
}

func TestRetryWait(t *testing.T) {
	for left, want := range map[time.Duration]time.Duration{
		10 * time.Hour:   5 * time.Hour,
		90 * time.Second: 60 * time.Second,
		30 * time.Second: 30 * time.Second,
		0:                0,
		-time.Second:     0,
	} {
		if got := retryWait(left); got != want {
			t.Errorf("retryWait(%s) = %s, want %s", left, got, want)
		}
	}
}
