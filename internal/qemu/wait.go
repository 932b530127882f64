package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// pollInterval is the pause between two attempts of WaitHTTP and WaitTCP.
const pollInterval = 250 * time.Millisecond

// StatusError is returned by WaitHTTP when the server answered, but never
// with a wanted status before the context ended.
type StatusError struct {
	URL    string
	Status int // the last status received
	Err    error
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: last status %d: %v", e.URL, e.Status, e.Err)
}

func (e *StatusError) Unwrap() error { return e.Err }

// httpProbeInterval is how often WaitHTTP starts a new attempt, and
// httpProbesInFlight how many may be under way at once: enough that hung
// attempts (see WaitHTTP) never hold up a new one, as a 5 s timeout at one
// attempt per 100 ms keeps at most 50 under way.
const (
	httpProbeInterval  = 100 * time.Millisecond
	httpProbesInFlight = 64
	httpProbeTimeout   = 5 * time.Second
)

// WaitHTTP polls url with GET until want accepts the response status
// (want nil accepts any 2xx) or ctx ends. The error wraps ctx's error and,
// when the server did answer, is a *StatusError carrying the last status.
//
// Attempts overlap: a new one starts every 100 ms without waiting for the
// previous one. A connection made through QEMU's user networking before the
// guest's network is up hangs until the guest answers a retransmitted SYN,
// up to seconds later; sequential attempts would report the app ready that
// much late, and short timeouts would cut off a slow but healthy answer.
func WaitHTTP(ctx context.Context, url string, want func(status int) bool) error {
	if want == nil {
		want = func(s int) bool { return s >= 200 && s < 300 }
	}
	client := &http.Client{
		Timeout: httpProbeTimeout,
		// A fresh connection per attempt: a forwarded port whose guest
		// side is not listening yet accepts and then resets connections.
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	defer client.CloseIdleConnections()
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		status int
		err    error
	}
	results := make(chan result, httpProbesInFlight)
	inFlight := 0
	probe := func() {
		inFlight++
		go func() {
			req, err := http.NewRequestWithContext(actx, http.MethodGet, url, nil)
			if err != nil {
				results <- result{err: err}
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				results <- result{err: err}
				return
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			results <- result{status: resp.StatusCode}
		}()
	}
	last, lastErr := 0, error(nil)
	ticker := time.NewTicker(httpProbeInterval)
	defer ticker.Stop()
	probe()
	for {
		select {
		case r := <-results:
			inFlight--
			if r.err == nil && want(r.status) {
				return nil
			}
			if r.err == nil {
				last = r.status
			} else if !errors.Is(r.err, context.Canceled) {
				lastErr = r.err
			}
		case <-ticker.C:
			if inFlight < httpProbesInFlight {
				probe()
			}
		case <-ctx.Done():
			cancel()
			for ; inFlight > 0; inFlight-- {
				<-results
			}
			if last != 0 {
				return &StatusError{URL: url, Status: last, Err: ctx.Err()}
			}
			if lastErr != nil && !errors.Is(lastErr, ctx.Err()) {
				return fmt.Errorf("wait for %s: %w (last error: %v)", url, ctx.Err(), lastErr)
			}
			return fmt.Errorf("wait for %s: %w", url, ctx.Err())
		}
	}
}

// WaitTCP polls addr until a TCP connection succeeds and stays open for a
// moment, or ctx ends. QEMU's user networking accepts connections on a
// forwarded port even when nothing listens in the guest and then closes
// them, so a connection only counts when the peer does not close it at
// once.
func WaitTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	var lastErr error
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			err = checkOpen(conn)
			conn.Close()
			if err == nil {
				return nil
			}
		}
		lastErr = err
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			if lastErr != nil && !errors.Is(lastErr, ctx.Err()) {
				return fmt.Errorf("wait for TCP %s: %w (last error: %v)", addr, ctx.Err(), lastErr)
			}
			return fmt.Errorf("wait for TCP %s: %w", addr, ctx.Err())
		case <-t.C:
		}
	}
}

// errClosedByPeer reports a connection that was closed right after it was
// accepted.
var errClosedByPeer = errors.New("connection closed by peer")

// checkOpen reads briefly from conn: a timeout means the peer holds the
// connection open (a real listener); EOF or a reset means it does not.
func checkOpen(conn net.Conn) error {
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [1]byte
	_, err := conn.Read(b[:])
	var ne net.Error
	switch {
	case err == nil:
		return nil // the server spoke first: it is there
	case errors.As(err, &ne) && ne.Timeout():
		return nil
	case errors.Is(err, io.EOF):
		return errClosedByPeer
	}
	return err
}
