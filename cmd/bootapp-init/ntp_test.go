package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// ntpServer answers SNTP requests on loopback with its clock skewed by
// skew; reply, when set, rewrites each answer.
func ntpServer(t *testing.T, skew time.Duration, reply func(req, resp []byte) []byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < ntpPacketLen || buf[0]&7 != 3 {
				continue
			}
			recv := ntpTime(time.Now().Add(skew))
			resp := make([]byte, ntpPacketLen)
			resp[0] = 0<<6 | 4<<3 | 4
			resp[1] = 2 // stratum
			copy(resp[24:32], buf[40:48])
			binary.BigEndian.PutUint64(resp[32:], recv)
			binary.BigEndian.PutUint64(resp[40:], ntpTime(time.Now().Add(skew)))
			if reply != nil {
				resp = reply(buf[:n], resp)
			}
			pc.WriteTo(resp, addr)
		}
	}()
	return pc.LocalAddr().String()
}

func TestNTPTime(t *testing.T) {
	for _, tm := range []time.Time{time.Unix(0, 0), time.Unix(1700000000, 123456789), time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)} {
		got := fromNTPTime(ntpTime(tm))
		if d := got.Sub(tm); d < -time.Nanosecond || d > time.Nanosecond {
			t.Errorf("round trip of %s: %s", tm, got)
		}
	}
	if s := ntpTime(time.Unix(0, 0)) >> 32; s != ntpEpochOffset {
		t.Errorf("1970 is NTP second %d", s)
	}
	req := ntpRequest(42)
	if len(req) != 48 || req[0] != 0x23 || binary.BigEndian.Uint64(req[40:]) != 42 {
		t.Errorf("request % x", req)
	}
}

func TestSNTPQuery(t *testing.T) {
	for _, skew := range []time.Duration{0, 3 * time.Second, -90 * time.Minute} {
		addr := ntpServer(t, skew, nil)
		s, err := sntpQuery(context.Background(), addr, time.Now)
		if err != nil {
			t.Fatalf("skew %s: %v", skew, err)
		}
		if d := s.offset - skew; d < -50*time.Millisecond || d > 50*time.Millisecond {
			t.Errorf("skew %s: offset %s", skew, s.offset)
		}
		if s.delay < 0 || s.delay > time.Second || s.stratum != 2 {
			t.Errorf("skew %s: delay %s stratum %d", skew, s.delay, s.stratum)
		}
	}
}

func TestSNTPQueryBadReplies(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(req, resp []byte) []byte
		match error
	}{
		{"kiss of death", func(_, r []byte) []byte { r[1] = 0; copy(r[12:], "RATE"); return r }, errNTPKiss},
		{"unsynchronised", func(_, r []byte) []byte { r[0] |= 3 << 6; return r }, errNTPReply},
		{"client mode", func(_, r []byte) []byte { r[0] = r[0]&^7 | 3; return r }, errNTPReply},
		{"short", func(_, r []byte) []byte { return r[:20] }, errNTPReply},
		{"zero transmit", func(_, r []byte) []byte { copy(r[40:], make([]byte, 8)); return r }, errNTPReply},
	}
	for _, tt := range tests {
		addr := ntpServer(t, 0, tt.edit)
		_, err := sntpQuery(context.Background(), addr, time.Now)
		if !errors.Is(err, tt.match) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.match)
		}
	}
	// An answer to another request is skipped; the query then times out.
	addr := ntpServer(t, 0, func(_, r []byte) []byte { r[24] ^= 1; return r })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := sntpQuery(ctx, addr, time.Now); err == nil {
		t.Errorf("a mismatched answer was accepted")
	}
}

// fakeClock records the adjustments syncTime makes.
type fakeClock struct {
	mu           sync.Mutex
	steps, slews []time.Duration
	done         chan struct{}
}

func (c *fakeClock) step(d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.steps = append(c.steps, d)
	close(c.done)
	return nil
}

func (c *fakeClock) slew(d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slews = append(c.slews, d)
	close(c.done)
	return nil
}

func TestSyncTime(t *testing.T) {
	for _, tt := range []struct {
		skew time.Duration
		step bool
	}{{10 * time.Second, true}, {0, false}} {
		addr := ntpServer(t, tt.skew, nil)
		c := &fakeClock{done: make(chan struct{})}
		var out bytes.Buffer
		var mu sync.Mutex
		log := newLogger(lockedWriter{&mu, &out}, func() time.Duration { return 0 })
		ctx, cancel := context.WithCancel(context.Background())
		go syncTime(ctx, log, []string{"127.0.0.1:1", addr}, c, time.Now)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Fatal("no adjustment")
		}
		cancel()
		c.mu.Lock()
		if tt.step && (len(c.steps) != 1 || c.steps[0] < 9*time.Second) {
			t.Errorf("skew %s: steps %v", tt.skew, c.steps)
		}
		if !tt.step && (len(c.slews) != 1 || len(c.steps) != 0) {
			t.Errorf("skew %s: steps %v slews %v", tt.skew, c.steps, c.slews)
		}
		c.mu.Unlock()
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestNextPoll(t *testing.T) {
	p := nextPoll(0, 0)
	if p != ntpPollMin {
		t.Errorf("first poll %s", p)
	}
	for i := 0; i < 10; i++ {
		p = nextPoll(p, time.Millisecond)
	}
	if p != ntpPollMax {
		t.Errorf("poll after a steady clock %s, want %s", p, ntpPollMax)
	}
	if got := nextPoll(p, -time.Second); got != ntpPollMin {
		t.Errorf("poll after a step %s", got)
	}
}
