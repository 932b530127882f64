package main

import (
	"testing"
	"time"
)

func TestRestartBudget(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := restartBudget{limit: 5, window: time.Minute}
	for i := 0; i < 5; i++ {
		if !b.allow(t0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("restart %d refused", i+1)
		}
	}
	if b.allow(t0.Add(5 * time.Second)) {
		t.Errorf("sixth restart within a minute allowed")
	}

	// Restarts spread out never exhaust it.
	b = restartBudget{limit: 5, window: time.Minute}
	for i := 0; i < 100; i++ {
		if !b.allow(t0.Add(time.Duration(i) * 13 * time.Second)) {
			t.Fatalf("restart %d (every 13 s) refused", i+1)
		}
	}
	if len(b.times) > 5 {
		t.Errorf("budget keeps %d old restarts", len(b.times))
	}

	// The window slides: a burst, a pause, another burst.
	b = restartBudget{limit: 2, window: 10 * time.Second}
	for _, s := range []int{0, 1, 12, 13} {
		if !b.allow(t0.Add(time.Duration(s) * time.Second)) {
			t.Errorf("restart at %d s refused", s)
		}
	}
	if b.allow(t0.Add(14 * time.Second)) {
		t.Errorf("third restart within 10 s allowed")
	}

	unlimited := restartBudget{limit: -1, window: time.Minute}
	for i := 0; i < 1000; i++ {
		if !unlimited.allow(t0) {
			t.Fatal("unlimited budget refused")
		}
	}
}

// TestRestartBudgetWithBackoff checks the documented default: an app that
// fails at once exhausts five restarts in a few seconds of backoff.
func TestRestartBudgetWithBackoff(t *testing.T) {
	b := restartBudget{limit: defaultRestartLimit, window: defaultRestartWindow}
	now := time.Unix(0, 0)
	var delay time.Duration
	for i := 1; ; i++ {
		delay = nextBackoff(delay, 0)
		now = now.Add(delay)
		if !b.allow(now) {
			if i != defaultRestartLimit+1 {
				t.Errorf("refused restart %d, want %d", i, defaultRestartLimit+1)
			}
			if now.Sub(time.Unix(0, 0)) > 10*time.Second {
				t.Errorf("gave up after %s", now.Sub(time.Unix(0, 0)))
			}
			break
		}
	}
}
