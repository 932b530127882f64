package main

import (
	"context"
	"strings"
	"time"
)

// clock is what syncTime changes: the system clock, or a fake in tests.
type clock interface {
	step(d time.Duration) error
	slew(d time.Duration) error
}

// syncTime keeps the clock in sync with the first of servers that
// answers, for as long as ctx lives: an offset of ntpStepThreshold or more
// is stepped, a smaller one slewed.
func syncTime(ctx context.Context, log *logger, servers []string, c clock, now func() time.Time) {
	var poll time.Duration
	synced := false
	failures := 0
	for {
		var s ntpSample
		var err error
		var server string
		for _, server = range servers {
			qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			s, err = sntpQuery(qctx, server, now)
			cancel()
			if err == nil {
				break
			}
		}
		if ctx.Err() != nil {
			return
		}
		wait := poll
		if err != nil {
			if failures == 0 || failures%16 == 0 {
				log.Printf("time: no answer from %s: %v; retrying", strings.Join(servers, ", "), err)
			}
			failures++
			wait = backoff(failures-1, 2*time.Second, ntpPollMin)
		} else {
			failures = 0
			off := s.offset
			if off < 0 {
				off = -off
			}
			switch {
			case off >= ntpStepThreshold:
				if err := c.step(s.offset); err != nil {
					log.Printf("time: step by %s: %v", s.offset, err)
				} else {
					log.Printf("time: stepped by %s to %s (server %s, stratum %d)", s.offset.Round(time.Millisecond), now().UTC().Format(time.RFC3339), server, s.stratum)
				}
			default:
				if err := c.slew(s.offset); err != nil {
					log.Printf("time: slew by %s: %v", s.offset, err)
				}
				if !synced {
					log.Printf("time: in sync with %s (offset %s, stratum %d)", server, s.offset.Round(time.Microsecond), s.stratum)
				}
			}
			synced = true
			poll = nextPoll(poll, s.offset)
			wait = poll
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
