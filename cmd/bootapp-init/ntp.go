package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"
)

// A small SNTP client (RFC 4330): one request, one answer, the offset of
// the local clock from the server's. The kernel sets the clock from the
// RTC at boot (CONFIG_RTC_HCTOSYS in the Debian kernel); SNTP keeps it
// right from then on when a server is configured or the cloud offers one.

// ntpEpochOffset is the number of seconds from 1900-01-01 (NTP's epoch)
// to 1970-01-01.
const ntpEpochOffset = 2208988800

// ntpPacketLen is the length of an NTP packet without extensions.
const ntpPacketLen = 48

var (
	// errNTPReply marks an answer the client cannot use.
	errNTPReply = errors.New("bad NTP reply")
	// errNTPKiss marks a kiss-o'-death answer (stratum 0): the server
	// asks the client to go away or slow down.
	errNTPKiss = errors.New("NTP server sent kiss-o'-death")
)

// ntpTime converts t to the 64-bit NTP timestamp format.
func ntpTime(t time.Time) uint64 {
	ns := t.UnixNano()
	sec := uint64(ns/1e9) + ntpEpochOffset
	frac := (uint64(ns%1e9) << 32) / 1e9
	return sec<<32 | frac
}

// fromNTPTime converts an NTP timestamp to a time.
func fromNTPTime(v uint64) time.Time {
	sec := int64(v>>32) - ntpEpochOffset
	ns := (int64(v&0xffffffff) * 1e9) >> 32
	return time.Unix(sec, ns)
}

// ntpRequest returns a client request (version 4, mode 3) with the given
// transmit timestamp.
func ntpRequest(xmit uint64) []byte {
	p := make([]byte, ntpPacketLen)
	p[0] = 0<<6 | 4<<3 | 3 // LI 0, VN 4, mode 3 (client)
	binary.BigEndian.PutUint64(p[40:], xmit)
	return p
}

// ntpSample is the result of one exchange.
type ntpSample struct {
	offset  time.Duration // add it to the local clock to get the server's
	delay   time.Duration // round trip, minus the server's time
	stratum int
}

// parseNTPReply checks a server's answer to a request sent with transmit
// timestamp xmit at local time t1 and received at t4, and computes the
// clock offset ((t2-t1)+(t3-t4))/2 and the round-trip delay.
func parseNTPReply(b []byte, xmit uint64, t1, t4 time.Time) (ntpSample, error) {
	if len(b) < ntpPacketLen {
		return ntpSample{}, fmt.Errorf("%w: %d bytes", errNTPReply, len(b))
	}
	li, vn, mode := b[0]>>6, (b[0]>>3)&7, b[0]&7
	if mode != 4 && mode != 5 {
		return ntpSample{}, fmt.Errorf("%w: mode %d, want 4 (server)", errNTPReply, mode)
	}
	if vn < 1 || vn > 4 {
		return ntpSample{}, fmt.Errorf("%w: version %d", errNTPReply, vn)
	}
	stratum := int(b[1])
	if stratum == 0 {
		return ntpSample{}, fmt.Errorf("%w (code %q)", errNTPKiss, b[12:16])
	}
	if li == 3 || stratum > 15 {
		return ntpSample{}, fmt.Errorf("%w: server not synchronised (leap %d, stratum %d)", errNTPReply, li, stratum)
	}
	if orig := binary.BigEndian.Uint64(b[24:]); orig != xmit {
		return ntpSample{}, fmt.Errorf("%w: answer to another request", errNTPReply)
	}
	recv, sent := binary.BigEndian.Uint64(b[32:]), binary.BigEndian.Uint64(b[40:])
	if recv == 0 || sent == 0 {
		return ntpSample{}, fmt.Errorf("%w: zero timestamp", errNTPReply)
	}
	t2, t3 := fromNTPTime(recv), fromNTPTime(sent)
	// Wall-clock differences: t1 and t4 carry monotonic readings, which
	// Round(0) strips so that the offset compares clocks.
	t1, t4 = t1.Round(0), t4.Round(0)
	offset := (t2.Sub(t1) + t3.Sub(t4)) / 2
	delay := t4.Sub(t1) - t3.Sub(t2)
	if delay < 0 {
		delay = 0
	}
	return ntpSample{offset: offset, delay: delay, stratum: stratum}, nil
}

// sntpQuery asks server (host or host:port, port 123 by default) for the
// time once. now is the local clock.
func sntpQuery(ctx context.Context, server string, now func() time.Time) (ntpSample, error) {
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "123")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return ntpSample{}, err
	}
	defer conn.Close()
	dl := time.Now().Add(2 * time.Second)
	if cdl, ok := ctx.Deadline(); ok && cdl.Before(dl) {
		dl = cdl
	}
	conn.SetDeadline(dl)
	t1 := now()
	xmit := ntpTime(t1)
	// A random low part would hide the clock from the server; the
	// exact transmit time is what RFC 4330 asks for and ties the answer
	// to this request.
	if _, err := conn.Write(ntpRequest(xmit)); err != nil {
		return ntpSample{}, err
	}
	buf := make([]byte, 512)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return ntpSample{}, err
		}
		s, err := parseNTPReply(buf[:n], xmit, t1, now())
		if err != nil && errors.Is(err, errNTPReply) && n >= ntpPacketLen && binary.BigEndian.Uint64(buf[24:]) != xmit {
			continue // a late answer to an earlier request
		}
		return s, err
	}
}

// NTP polling: first every ntpPollMin, doubling while the clock stays
// within ntpStepThreshold, up to ntpPollMax.
const (
	ntpPollMin       = 64 * time.Second
	ntpPollMax       = 1024 * time.Second
	ntpStepThreshold = 128 * time.Millisecond
)

// nextPoll returns the poll interval after one with the given offset.
func nextPoll(prev, offset time.Duration) time.Duration {
	if offset < 0 {
		offset = -offset
	}
	if prev <= 0 || offset >= ntpStepThreshold {
		return ntpPollMin
	}
	return min(prev*2, ntpPollMax)
}
