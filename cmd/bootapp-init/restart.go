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
