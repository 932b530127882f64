package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// qmpClient is a minimal client of the QEMU Machine Protocol over a unix
// socket. Hand-written on purpose: bootapp needs two commands
// (qmp_capabilities, then system_powerdown or query-status), and the existing
// Go libraries (digitalocean/go-qemu) pull in libvirt bindings and far more
// API than that. The protocol is one JSON object per line: a greeting
// {"QMP":...}, then {"execute":...} requests answered by {"return":...} or
// {"error":...}, with asynchronous {"event":...} messages interleaved.
type qmpClient struct {
	conn net.Conn
	r    *bufio.Reader
}

// qmpMessage is any message QEMU sends.
type qmpMessage struct {
	QMP    json.RawMessage `json:"QMP"`
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string `json:"event"`
}

// dialQMP connects to the QMP socket at path, reads the greeting and
// negotiates capabilities. The context bounds the whole handshake.
func dialQMP(ctx context.Context, path string) (*qmpClient, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to QMP socket %s: %w", path, err)
	}
	c := &qmpClient{conn: conn, r: bufio.NewReader(conn)}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	m, err := c.read()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read QMP greeting from %s: %w", path, err)
	}
	if m.QMP == nil {
		conn.Close()
		return nil, fmt.Errorf("read QMP greeting from %s: not a QMP greeting", path)
	}
	if _, err := c.execute("qmp_capabilities"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("QMP handshake on %s: %w", path, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return c, nil
}

func (c *qmpClient) read() (*qmpMessage, error) {
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var m qmpMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, fmt.Errorf("decode QMP message %q: %w", line, err)
	}
	return &m, nil
}

// execute sends one command and returns its "return" value, skipping the
// events that arrive in between.
func (c *qmpClient) execute(cmd string) (json.RawMessage, error) {
	req, err := json.Marshal(map[string]string{"execute": cmd})
	if err != nil {
		return nil, err
	}
	if _, err := c.conn.Write(append(req, '\n')); err != nil {
		return nil, fmt.Errorf("send QMP %s: %w", cmd, err)
	}
	for {
		m, err := c.read()
		if err != nil {
			return nil, fmt.Errorf("QMP %s: %w", cmd, err)
		}
		switch {
		case m.Error != nil:
			return nil, fmt.Errorf("QMP %s: %s: %s", cmd, m.Error.Class, m.Error.Desc)
		case m.Return != nil:
			return m.Return, nil
		}
	}
}

// executeCtx runs execute with ctx bounding the exchange.
func (c *qmpClient) executeCtx(ctx context.Context, cmd string) (json.RawMessage, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(dl)
		defer c.conn.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	r, err := c.execute(cmd)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("QMP %s: %w", cmd, ctx.Err())
	}
	return r, err
}

func (c *qmpClient) Close() error { return c.conn.Close() }

// qmpLinger is how long a client stays connected after system_powerdown:
// QEMU drops a command whose connection closes at once (checked on QEMU 7.2).
const qmpLinger = time.Second

// powerdownQMP presses the ACPI power button of the VM whose QMP socket is
// at path.
func powerdownQMP(ctx context.Context, path string, linger time.Duration) error {
	c, err := dialQMP(ctx, path)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.executeCtx(ctx, "system_powerdown"); err != nil {
		return err
	}
	// Keep the connection open for a moment (see qmpLinger), but no
	// longer than the caller allows, and stop early when QEMU closes it
	// (the guest powered off). Events arriving meanwhile are discarded.
	dl := time.Now().Add(linger)
	if cdl, ok := ctx.Deadline(); ok && cdl.Before(dl) {
		dl = cdl
	}
	_ = c.conn.SetReadDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		if _, err := c.read(); err != nil {
			break
		}
	}
	return nil
}
