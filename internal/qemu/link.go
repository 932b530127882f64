package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// SetLink sets the link state of the VM's network card (QMP set_link):
// down, the guest sees no carrier and nothing reaches the user-mode
// network, its DHCP server included; up again, the guest sees the carrier
// return.
func (vm *VM) SetLink(ctx context.Context, up bool) error {
	c, err := dialQMP(ctx, vm.qmpPath)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.executeArgsCtx(ctx, "set_link", map[string]any{"name": "n0", "up": up}); err != nil {
		return fmt.Errorf("set link %v: %w", map[bool]string{true: "up", false: "down"}[up], err)
	}
	return nil
}

// executeArgsCtx runs a command with arguments, ctx bounding the exchange.
func (c *qmpClient) executeArgsCtx(ctx context.Context, cmd string, args map[string]any) (json.RawMessage, error) {
	req, err := json.Marshal(map[string]any{"execute": cmd, "arguments": args})
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(dl)
		defer c.conn.SetDeadline(time.Time{})
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
