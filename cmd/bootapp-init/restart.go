package main

import "time"

// Restart backoff: the first restart waits backoffMin, each following one
// twice as long up to backoffMax; a run that lasted backoffReset or longer
// starts over at backoffMin.
const (
	backoffMin   = 100 * time.Millisecond
	backoffMax   = 30 * time.Second
	backoffReset = 10 * time.Second
)

// shouldRestart reports whether the policy starts the app again after it
// exited; failed means a non-zero exit status or death by a signal.
func (p restartPolicy) shouldRestart(failed bool) bool {
	switch p {
	case restartAlways:
		return true
	case restartOnFailure:
		return failed
	}
	return false
}

// nextBackoff returns the delay before the next start, given the previous
// delay (zero before the first restart) and how long the last run lasted.
func nextBackoff(prev, ran time.Duration) time.Duration {
	if prev <= 0 || ran >= backoffReset {
		return backoffMin
	}
	next := prev * 2
	if next > backoffMax {
		next = backoffMax
	}
	return next
}

// Restart budget defaults: more than defaultRestartLimit restarts within
// defaultRestartWindow is a fatal error. With the backoff above, an app
// that fails at once uses its five restarts in about 3 s; one that fails
// after 15 s of work every time gets restarted for ever.
const (
	defaultRestartLimit  = 5
	defaultRestartWindow = 60 * time.Second
)

// restartBudget bounds restarts: at most limit within any window. A
// negative limit removes the bound.
type restartBudget struct {
	limit  int
	window time.Duration
	times  []time.Time // the restarts within the window, oldest first
}

// allow records a restart at now and reports whether it stays within the
// budget.
func (b *restartBudget) allow(now time.Time) bool {
	if b.limit < 0 {
		return true
	}
	keep := b.times[:0]
	for _, t := range b.times {
		if now.Sub(t) < b.window {
			keep = append(keep, t)
		}
	}
	b.times = append(keep, now)
	return len(b.times) <= b.limit
}
