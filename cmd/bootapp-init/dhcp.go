package main

import "time"

// DHCP timing, kept free of system calls so that it can be tested.
//
// An interface asks for a lease until it has one: a DISCOVER, then up to
// dhcpAttemptTimeout for the OFFER (and as long again for the ACK), then
// the wait dhcpBackoff gives before the next attempt. A carrier that
// comes up (a cable plugged in, QEMU's set_link) starts the schedule over
// at once. Once bound, the lease is renewed from T1 (option 58, default
// half the lease) with the server, rebound from T2 (option 59, default
// 7/8 of the lease) with any server, and when it expires the address is
// removed and the interface asks for a new lease from the start.

const (
	// dhcpAttemptTimeout is how long one attempt waits for each answer:
	// a DHCP server on the local link answers within milliseconds.
	dhcpAttemptTimeout = time.Second
	// dhcpBackoffFirst and dhcpBackoffMax bound the waits between
	// attempts: 0.5 s, 1, 2, 4, then 8 s for as long as it takes.
	dhcpBackoffFirst = 500 * time.Millisecond
	dhcpBackoffMax   = 8 * time.Second
	// dhcpRetryMin is the least time between renewal attempts (RFC 2131
	// 4.4.5 suggests half the time left, down to 60 s).
	dhcpRetryMin = 60 * time.Second
	// dhcpDefaultLease is assumed when the server names no lease time.
	dhcpDefaultLease = time.Hour
)

// dhcpBackoff returns the wait after failed attempt n (0 for the first).
func dhcpBackoff(n int) time.Duration {
	return backoff(n, dhcpBackoffFirst, dhcpBackoffMax)
}

// leaseTimes returns when, after the lease was granted, to renew (T1), to
// rebind (T2) and when it expires, from the lease time and the optional
// T1 and T2 options (zero when absent or inconsistent).
func leaseTimes(lease, t1, t2 time.Duration) (renew, rebind, expire time.Duration) {
	if lease <= 0 {
		lease = dhcpDefaultLease
	}
	if t1 <= 0 || t1 >= lease {
		t1 = lease / 2
	}
	if t2 <= 0 || t2 >= lease || t2 < t1 {
		t2 = lease * 7 / 8
		if t2 < t1 {
			t2 = t1
		}
	}
	return t1, t2, lease
}

// retryWait returns how long to wait before the next renewal (or rebind)
// attempt when the next phase starts in left: half of it, at least
// dhcpRetryMin, but never past the phase's end.
func retryWait(left time.Duration) time.Duration {
	if left <= 0 {
		return 0
	}
	return min(max(left/2, dhcpRetryMin), left)
}
