package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkWait bounds the wait for an Ethernet interface to appear after its
// driver module is loaded.
const linkWait = 3 * time.Second

// errNoLink says no Ethernet interface appeared.
var errNoLink = errors.New("no ethernet interface")

// setupNetwork brings up lo and, with DHCP enabled, the first Ethernet
// interface; then it sets the hostname and writes /etc/hosts. Failures are
// logged: the app starts anyway. A successful lease is renewed in the
// background for as long as ctx lives.
func (in *initProc) setupNetwork(ctx context.Context) {
	start := time.Now()
	if err := linkResolvConf("/etc/resolv.conf", resolvPath); err != nil {
		in.log.Printf("net: %v", err)
	}
	if lo, err := netlink.LinkByName("lo"); err != nil {
		in.log.Printf("net: find lo: %v", err)
	} else if err := netlink.LinkSetUp(lo); err != nil {
		in.log.Printf("net: bring up lo: %v", err)
	}
	hostname := in.cfg.hostname
	if in.cfg.dhcp {
		lease, err := in.dhcp(ctx)
		if err != nil {
			in.log.Printf("net: %v; continuing without network", err)
		} else {
			in.log.Printf("net: %s in %s", describeLease(lease), time.Since(start).Round(time.Millisecond))
			if hostname == "" {
				hostname = lease.ACK.HostName()
			}
		}
	} else {
		in.log.Printf("net: DHCP disabled, only lo is up")
	}
	if hostname == "" {
		hostname = defaultHostname
	}
	if err := unix.Sethostname([]byte(hostname)); err != nil {
		in.log.Printf("net: set hostname %q: %v", hostname, err)
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n", hostname)
	if err := os.WriteFile("/etc/hosts", []byte(hosts), 0o644); err != nil {
		in.log.Printf("net: %v", err)
	}
}

// dhcp configures the first Ethernet interface from a DHCPv4 lease and
// keeps renewing it.
func (in *initProc) dhcp(ctx context.Context) (*nclient4.Lease, error) {
	link, err := waitEthernet(ctx, linkWait)
	if err != nil {
		return nil, err
	}
	name := link.Attrs().Name
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("bring up %s: %w", name, err)
	}
	// Short per-attempt timeouts: a local DHCP server answers within
	// milliseconds, and a lost packet should not cost seconds.
	c, err := nclient4.New(name, nclient4.WithTimeout(500*time.Millisecond), nclient4.WithRetry(1000))
	if err != nil {
		return nil, fmt.Errorf("dhcp on %s: %w", name, err)
	}
	rctx, cancel := context.WithTimeout(ctx, in.cfg.dhcpTimeout)
	lease, err := requestLease(rctx, c)
	cancel()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("dhcp on %s: no lease within %s: %w", name, in.cfg.dhcpTimeout, err)
	}
	if err := applyLease(link, lease.ACK); err != nil {
		c.Close()
		return nil, err
	}
	if dns := lease.ACK.DNS(); len(dns) > 0 {
		var search []string
		if l := lease.ACK.DomainSearch(); l != nil {
			search = l.Labels
		} else if d := lease.ACK.DomainName(); d != "" {
			search = []string{d}
		}
		if err := os.WriteFile(resolvPath, []byte(resolvConf(dns, search)), 0o644); err != nil {
			in.log.Printf("net: %v", err)
		}
	}
	in.goSafe("dhcp renew", func() { in.renewLease(ctx, c, link, lease) })
	return lease, nil
}

// requestLease runs the DHCP discover-offer-request-ack exchange, as
// nclient4.Client.Request does, but with a transaction ID derived from the
// MAC address and the clock. Request draws the ID from the kernel's random
// pool, and at early boot on a VM without a hardware RNG that read waits
// seconds for the pool to initialise. The ID only needs to differ between
// clients and attempts, not to be secret.
func requestLease(ctx context.Context, c *nclient4.Client) (*nclient4.Lease, error) {
	hw := c.InterfaceAddr()
	xid := transactionID(hw, sinceBoot())
	want := dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter,
		dhcpv4.OptionDomainName, dhcpv4.OptionDomainNameServer, dhcpv4.OptionDNSDomainSearchList,
		dhcpv4.OptionHostName, dhcpv4.OptionInterfaceMTU)
	size := dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(nclient4.MaxMessageSize))
	discover := newMessage(xid, dhcpv4.WithHwAddr(hw), want, size, dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover))
	offer, err := c.SendAndRead(ctx, c.RemoteAddr(), discover, nclient4.IsMessageType(dhcpv4.MessageTypeOffer))
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	request := newMessage(xid, dhcpv4.WithReply(offer), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(offer.ClientIPAddr), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr)),
		dhcpv4.WithOptionCopied(offer, dhcpv4.OptionServerIdentifier), want, size)
	ack, err := c.SendAndRead(ctx, c.RemoteAddr(), request, nclient4.IsAll(
		nclient4.IsCorrectServer(offer.ServerIdentifier()),
		nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak)))
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return nil, &nclient4.ErrNak{Offer: offer, Nak: ack}
	}
	return &nclient4.Lease{Offer: offer, ACK: ack, CreationTime: time.Now()}, nil
}

// newMessage returns a DHCPv4 client message with the given transaction ID,
// the defaults of dhcpv4.New and the modifiers applied.
func newMessage(xid dhcpv4.TransactionID, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	d := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        iana.HWTypeEthernet,
		ClientHWAddr:  make(net.HardwareAddr, 6),
		TransactionID: xid,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		Options:       make(dhcpv4.Options),
	}
	for _, m := range mods {
		m(d)
	}
	return d
}

// waitEthernet polls until an Ethernet interface exists and returns the
// first one by interface index.
func waitEthernet(ctx context.Context, wait time.Duration) (netlink.Link, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		links, _ := netlink.LinkList()
		var best netlink.Link
		for _, l := range links {
			a := l.Attrs()
			if l.Type() != "device" || a.EncapType != "ether" || a.Flags&net.FlagLoopback != 0 {
				continue
			}
			if best == nil || a.Index < best.Attrs().Index {
				best = l
			}
		}
		if best != nil {
			return best, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w after %s: is the NIC's driver in the module list?", errNoLink, wait)
		case <-t.C:
		}
	}
}

// applyLease sets the leased address, MTU and default route on link.
func applyLease(link netlink.Link, ack *dhcpv4.DHCPv4) error {
	name := link.Attrs().Name
	mask := ack.SubnetMask()
	if mask == nil {
		mask = ack.YourIPAddr.DefaultMask()
	}
	ipnet := &net.IPNet{IP: ack.YourIPAddr.To4(), Mask: mask}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("set address %s on %s: %w", ipnet, name, err)
	}
	if b := ack.Options.Get(dhcpv4.OptionInterfaceMTU); len(b) == 2 {
		if mtu := int(b[0])<<8 | int(b[1]); mtu >= 576 && mtu != link.Attrs().MTU {
			if err := netlink.LinkSetMTU(link, mtu); err != nil {
				return fmt.Errorf("set MTU %d on %s: %w", mtu, name, err)
			}
		}
	}
	routers := ack.Router()
	if len(routers) == 0 {
		return nil
	}
	gw := routers[0].To4()
	idx := link.Attrs().Index
	if !ipnet.Contains(gw) {
		// Clouds that lease a /32 (GCE) put the gateway off-subnet: it
		// needs a link route of its own first.
		r := &netlink.Route{LinkIndex: idx, Dst: &net.IPNet{IP: gw, Mask: net.CIDRMask(32, 32)}, Scope: netlink.SCOPE_LINK}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("add route to gateway %s on %s: %w", gw, name, err)
		}
	}
	if err := netlink.RouteReplace(&netlink.Route{LinkIndex: idx, Gw: gw}); err != nil {
		return fmt.Errorf("add default route via %s on %s: %w", gw, name, err)
	}
	return nil
}

// renewLease renews the lease at half its lifetime until ctx ends; a
// failed renewal is retried every minute.
func (in *initProc) renewLease(ctx context.Context, c *nclient4.Client, link netlink.Link, lease *nclient4.Lease) {
	defer c.Close()
	for {
		wait := lease.ACK.IPAddressLeaseTime(time.Hour) / 2
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		for {
			rctx, cancel := context.WithTimeout(ctx, in.cfg.dhcpTimeout)
			next, err := c.Renew(rctx, lease)
			cancel()
			if err == nil {
				if err := applyLease(link, next.ACK); err != nil {
					in.log.Printf("net: renew: %v", err)
				}
				lease = next
				break
			}
			in.log.Printf("net: renew lease: %v; retrying in a minute", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Minute):
			}
		}
	}
}

// describeLease summarises a lease for the log.
func describeLease(l *nclient4.Lease) string {
	a := l.ACK
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%d", a.YourIPAddr, maskBits(a.SubnetMask()))
	if r := a.Router(); len(r) > 0 {
		fmt.Fprintf(&b, " via %s", r[0])
	}
	if d := a.DNS(); len(d) > 0 {
		fmt.Fprintf(&b, " dns %s", d[0])
	}
	fmt.Fprintf(&b, " lease %s", a.IPAddressLeaseTime(0))
	return b.String()
}

func maskBits(m net.IPMask) int {
	ones, _ := m.Size()
	return ones
}
