package main

import (
	"context"
	"time"

	"golang.org/x/sys/unix"
)

// adjOffsetSingleshot is ADJ_OFFSET_SINGLESHOT: adjtimex slews the clock
// by Offset microseconds, as adjtime(3) does.
const adjOffsetSingleshot = 0x8001

// systemClock adjusts the kernel's clock.
type systemClock struct{}

// step sets the clock forward (or back) by d at once.
func (systemClock) step(d time.Duration) error {
	tv := unix.NsecToTimeval(time.Now().Add(d).UnixNano())
	return unix.Settimeofday(&tv)
}

// slew makes the kernel correct the clock by d gradually.
func (systemClock) slew(d time.Duration) error {
	tx := unix.Timex{Modes: adjOffsetSingleshot, Offset: d.Microseconds()}
	_, err := unix.Adjtimex(&tx)
	return err
}

// logClock logs the time the kernel set from the RTC at boot.
func (in *initProc) logClock() {
	in.log.Printf("time: %s (from the RTC)", time.Now().UTC().Format(time.RFC3339))
}

// startTimeSync starts the SNTP client when there are servers: the
// configured ones, else the cloud's.
func (in *initProc) startTimeSync(ctx context.Context) {
	servers := in.cfg.ntp
	if len(servers) == 0 {
		if s := defaultNTP(in.cloud); s != "" {
			servers = []string{s}
		}
	}
	if len(servers) == 0 {
		return
	}
	in.goSafe("ntp", func() { syncTime(ctx, in.log, servers, systemClock{}, time.Now) })
}
