package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
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

// hostsPath is where the init writes the hosts file; /etc/hosts links to
// it, since / is read-only once the app runs and a DHCP host name may
// arrive later.
const hostsPath = "/run/bootapp/hosts"

// errNoLink says no Ethernet interface appeared.
var errNoLink = errors.New("no ethernet interface")

// netState is what the network goroutines share.
type netState struct {
	upOnce sync.Once
	up     chan struct{} // closed when an interface has an address

	mu       sync.Mutex
	dns      map[int]dnsConfig // by interface index
	resolv   string            // last written resolv.conf
	hostname string            // current host name
}

// dnsConfig is one interface's resolver configuration.
type dnsConfig struct {
	servers []net.IP
	search  []string
}

func newNetState() *netState {
	return &netState{up: make(chan struct{}), dns: map[int]dnsConfig{}}
}

// markUp records that an interface has an address.
func (s *netState) markUp() { s.upOnce.Do(func() { close(s.up) }) }

// setupNetwork brings up lo and every Ethernet interface: the first one
// with the static address when one is configured, the others (or all)
// with DHCP. It returns once an interface has an address, or after the
// DHCP timeout: the app then starts without network while every
// interface keeps asking in the background, with backoff, for as long as
// ctx lives. Failures are logged: the app starts anyway.
func (in *initProc) setupNetwork(ctx context.Context) {
	start := time.Now()
	for _, l := range [][2]string{{"/etc/resolv.conf", resolvPath}, {"/etc/hosts", hostsPath}} {
		if err := linkResolvConf(l[0], l[1]); err != nil {
			in.log.Printf("net: %v", err)
		}
	}
	if lo, err := netlink.LinkByName("lo"); err != nil {
		in.log.Printf("net: find lo: %v", err)
	} else if err := netlink.LinkSetUp(lo); err != nil {
		in.log.Printf("net: bring up lo: %v", err)
	}
	hostname := in.cfg.hostname
	if hostname == "" {
		hostname = defaultHostname
	}
	in.setHostname(hostname)
	if !in.cfg.dhcp && in.cfg.static == nil {
		in.log.Printf("net: DHCP disabled, only lo is up")
		return
	}
	links, err := ethernetLinks(ctx, linkWait)
	if err != nil {
		in.log.Printf("net: %v; continuing without network", err)
		return
	}
	for i, link := range links {
		name := link.Attrs().Name
		if i == 0 && in.cfg.static != nil {
			if err := in.applyStatic(link); err != nil {
				in.log.Printf("net: %s: %v", name, err)
				continue
			}
			in.log.Printf("net: %s: static %s in %s", name, describeStatic(in.cfg.static), time.Since(start).Round(time.Millisecond))
			in.net.markUp()
			continue
		}
		if in.cfg.dhcp {
			in.goSafe("dhcp "+name, func() { in.dhcpLoop(ctx, link) })
		}
	}
	select {
	case <-in.net.up:
	case <-time.After(in.cfg.dhcpTimeout):
		in.log.Printf("net: no address within %s; starting without network, DHCP keeps trying in the background", in.cfg.dhcpTimeout)
	case <-ctx.Done():
	}
}

// setHostname sets the host name and writes the hosts file for it.
func (in *initProc) setHostname(name string) {
	in.net.mu.Lock()
	defer in.net.mu.Unlock()
	if name == in.net.hostname {
		return
	}
	if err := unix.Sethostname([]byte(name)); err != nil {
		in.log.Printf("net: set hostname %q: %v", name, err)
		return
	}
	in.net.hostname = name
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n", name)
	if err := os.WriteFile(hostsPath, []byte(hosts), 0o644); err != nil {
		in.log.Printf("net: %v", err)
	}
}

// setDNS records the resolver configuration of interface idx (nil
// servers: none) and rewrites resolv.conf from the interface with the
// lowest index that has one.
func (in *initProc) setDNS(idx int, c *dnsConfig) {
	in.net.mu.Lock()
	defer in.net.mu.Unlock()
	if c == nil || len(c.servers) == 0 {
		delete(in.net.dns, idx)
	} else {
		in.net.dns[idx] = *c
	}
	var idxs []int
	for i := range in.net.dns {
		idxs = append(idxs, i)
	}
	if len(idxs) == 0 {
		return // keep the last configuration: better than none
	}
	sort.Ints(idxs)
	p := in.net.dns[idxs[0]]
	text := resolvConf(p.servers, p.search)
	if text == in.net.resolv {
		return
	}
	if err := os.WriteFile(resolvPath, []byte(text), 0o644); err != nil {
		in.log.Printf("net: %v", err)
		return
	}
	in.net.resolv = text
}

// ethernetLinks polls until an Ethernet interface exists and returns all
// of them by interface index. Drivers probe their devices while the
// module loads, so every NIC is there by the time the first one is.
func ethernetLinks(ctx context.Context, wait time.Duration) ([]netlink.Link, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		all, _ := netlink.LinkList()
		var links []netlink.Link
		for _, l := range all {
			a := l.Attrs()
			if l.Type() == "device" && a.EncapType == "ether" && a.Flags&net.FlagLoopback == 0 {
				links = append(links, l)
			}
		}
		if len(links) > 0 {
			sort.Slice(links, func(i, j int) bool { return links[i].Attrs().Index < links[j].Attrs().Index })
			return links, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w after %s: is the NIC's driver in the module list?", errNoLink, wait)
		case <-t.C:
		}
	}
}

// applyStatic configures link with the static address, route and DNS.
func (in *initProc) applyStatic(link netlink.Link) error {
	st := in.cfg.static
	name := link.Attrs().Name
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring up %s: %w", name, err)
	}
	ipnet := &net.IPNet{IP: st.prefix.Addr().AsSlice(), Mask: net.CIDRMask(st.prefix.Bits(), 32)}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("set address %s on %s: %w", ipnet, name, err)
	}
	if st.gateway.IsValid() {
		if err := setDefaultRoute(link, ipnet, st.gateway.AsSlice()); err != nil {
			return err
		}
	}
	var servers []net.IP
	for _, d := range st.dns {
		servers = append(servers, d.AsSlice())
	}
	in.setDNS(link.Attrs().Index, &dnsConfig{servers: servers})
	return nil
}

// dhcpLoop keeps a DHCP lease on link for as long as ctx lives: it asks
// until it gets one, keeps it, and starts over when it is lost.
func (in *initProc) dhcpLoop(ctx context.Context, link netlink.Link) {
	name := link.Attrs().Name
	if err := netlink.LinkSetUp(link); err != nil {
		in.log.Printf("net: bring up %s: %v", name, err)
		return
	}
	carrier := watchCarrier(ctx, link.Attrs().Index)
	var c *nclient4.Client
	for n := 0; c == nil; n++ {
		var err error
		c, err = nclient4.New(name, nclient4.WithTimeout(dhcpAttemptTimeout), nclient4.WithRetry(1))
		if err != nil {
			if n == 0 {
				in.log.Printf("net: dhcp on %s: %v; retrying", name, err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(dhcpBackoff(n)):
			}
		}
	}
	defer c.Close()
	for ctx.Err() == nil {
		lease := in.acquire(ctx, c, name, carrier)
		if lease == nil {
			return
		}
		in.keepLease(ctx, c, link, lease)
	}
}

// acquire asks for a lease until one arrives or ctx ends (nil then).
func (in *initProc) acquire(ctx context.Context, c *nclient4.Client, name string, carrier <-chan struct{}) *nclient4.Lease {
	start := time.Now()
	lastLog := time.Time{}
	for n, attempts := 0, 1; ; n, attempts = n+1, attempts+1 {
		lease, err := requestLease(ctx, c)
		if err == nil {
			in.log.Printf("net: %s: %s in %s (attempt %d)", name, describeLease(lease), time.Since(start).Round(time.Millisecond), attempts)
			return lease
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := dhcpBackoff(n)
		if time.Since(lastLog) >= time.Minute || lastLog.IsZero() {
			in.log.Printf("net: %s: no lease yet (attempt %d: %v); retrying in %s, then with backoff up to %s", name, attempts, err, wait, dhcpBackoffMax)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		case <-carrier:
			in.log.Printf("net: %s: carrier up, asking again", name)
			n = -1
		}
	}
}

// keepLease applies lease to link, renews it from T1, rebinds it from T2
// and returns when it is lost (expired or refused), with the address
// removed.
func (in *initProc) keepLease(ctx context.Context, c *nclient4.Client, link netlink.Link, lease *nclient4.Lease) {
	name := link.Attrs().Name
	var prev *dhcpv4.DHCPv4
	for {
		if err := in.applyLease(link, lease.ACK, prev); err != nil {
			in.log.Printf("net: %s: %v", name, err)
		}
		in.net.markUp()
		prev = lease.ACK
		a := lease.ACK
		t1, t2, exp := leaseTimes(a.IPAddressLeaseTime(0), a.IPAddressRenewalTime(0), a.IPAddressRebindingTime(0))
		got := lease.CreationTime
		next, err := in.extendLease(ctx, c, lease, got.Add(t1), got.Add(t2), got.Add(exp))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			in.log.Printf("net: %s: lease of %s lost: %v; removing the address and asking again", name, a.YourIPAddr, err)
			in.dropLease(link, a)
			return
		}
		if !next.ACK.YourIPAddr.Equal(a.YourIPAddr) || next.ACK.IPAddressLeaseTime(0) != a.IPAddressLeaseTime(0) {
			in.log.Printf("net: %s: renewed: %s", name, describeLease(next))
		}
		lease = next
	}
}

// errLeaseExpired says a lease ran out without a renewal.
var errLeaseExpired = errors.New("lease expired")

// extendLease waits until renewAt, then asks the server for an extension
// until rebindAt, then any server until expireAt.
func (in *initProc) extendLease(ctx context.Context, c *nclient4.Client, lease *nclient4.Lease, renewAt, rebindAt, expireAt time.Time) (*nclient4.Lease, error) {
	if err := sleepUntil(ctx, renewAt); err != nil {
		return nil, err
	}
	for {
		now := time.Now()
		if !now.Before(expireAt) {
			return nil, errLeaseExpired
		}
		rebinding := !now.Before(rebindAt)
		next, err := extendRequest(ctx, c, lease, rebinding)
		if err == nil {
			return next, nil
		}
		var nak *nclient4.ErrNak
		if errors.As(err, &nak) {
			return nil, err
		}
		end := rebindAt
		if rebinding {
			end = expireAt
		}
		what := "renew"
		if rebinding {
			what = "rebind"
		}
		wait := retryWait(end.Sub(now))
		in.log.Printf("net: %s lease: %v; retrying in %s", what, err, wait.Round(time.Second))
		if err := sleepUntil(ctx, now.Add(wait)); err != nil {
			return nil, err
		}
	}
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// wantOptions are the options the init asks DHCP servers for.
var wantOptions = dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter,
	dhcpv4.OptionDomainName, dhcpv4.OptionDomainNameServer, dhcpv4.OptionDNSDomainSearchList,
	dhcpv4.OptionHostName, dhcpv4.OptionInterfaceMTU, dhcpv4.OptionRenewTimeValue, dhcpv4.OptionRebindingTimeValue)

// extendRequest sends a DHCPREQUEST for the leased address (RFC 2131
// RENEWING or REBINDING: ciaddr set, no server identifier) and waits for
// the answer. Both go out as broadcasts on the packet socket, which
// servers answer like a unicast; while renewing only the lease's server
// is listened to.
func extendRequest(ctx context.Context, c *nclient4.Client, lease *nclient4.Lease, rebinding bool) (*nclient4.Lease, error) {
	hw := c.InterfaceAddr()
	xid := transactionID(hw, sinceBoot())
	size := dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(nclient4.MaxMessageSize))
	req := newMessage(xid, dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(lease.ACK.YourIPAddr), wantOptions, size)
	match := nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak)
	if !rebinding {
		match = nclient4.IsAll(nclient4.IsCorrectServer(lease.ACK.ServerIdentifier()), match)
	}
	sent := time.Now()
	ack, err := c.SendAndRead(ctx, c.RemoteAddr(), req, match)
	if err != nil {
		return nil, err
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return nil, &nclient4.ErrNak{Offer: lease.Offer, Nak: ack}
	}
	return &nclient4.Lease{Offer: lease.Offer, ACK: ack, CreationTime: sent}, nil
}

// watchCarrier returns a channel that receives a value each time link idx
// gains its carrier (IFF_LOWER_UP), for as long as ctx lives. Without a
// netlink subscription it never fires, and the backoff alone paces
// DHCP.
func watchCarrier(ctx context.Context, idx int) <-chan struct{} {
	out := make(chan struct{}, 1)
	updates := make(chan netlink.LinkUpdate, 16)
	if err := netlink.LinkSubscribe(updates, ctx.Done()); err != nil {
		return out
	}
	up := false
	if l, err := netlink.LinkByIndex(idx); err == nil {
		up = l.Attrs().RawFlags&unix.IFF_LOWER_UP != 0
	}
	go func() {
		for u := range updates {
			if int(u.Index) != idx {
				continue
			}
			now := u.Flags&unix.IFF_LOWER_UP != 0
			if now && !up {
				select {
				case out <- struct{}{}:
				default:
				}
			}
			up = now
		}
	}()
	return out
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
	size := dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(nclient4.MaxMessageSize))
	discover := newMessage(xid, dhcpv4.WithHwAddr(hw), wantOptions, size, dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover))
	offer, err := c.SendAndRead(ctx, c.RemoteAddr(), discover, nclient4.IsMessageType(dhcpv4.MessageTypeOffer))
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	request := newMessage(xid, dhcpv4.WithReply(offer), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(offer.ClientIPAddr), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr)),
		dhcpv4.WithOptionCopied(offer, dhcpv4.OptionServerIdentifier), wantOptions, size)
	sent := time.Now()
	ack, err := c.SendAndRead(ctx, c.RemoteAddr(), request, nclient4.IsAll(
		nclient4.IsCorrectServer(offer.ServerIdentifier()),
		nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak)))
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return nil, &nclient4.ErrNak{Offer: offer, Nak: ack}
	}
	return &nclient4.Lease{Offer: offer, ACK: ack, CreationTime: sent}, nil
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

// leaseNet returns the leased address with its mask.
func leaseNet(ack *dhcpv4.DHCPv4) *net.IPNet {
	mask := ack.SubnetMask()
	if mask == nil {
		mask = ack.YourIPAddr.DefaultMask()
	}
	return &net.IPNet{IP: ack.YourIPAddr.To4(), Mask: mask}
}

// applyLease sets the leased address (replacing prev's when it differs),
// the MTU (option 26: AWS leases 9001), the default route, the DNS servers
// and, when none is configured, the host name.
func (in *initProc) applyLease(link netlink.Link, ack, prev *dhcpv4.DHCPv4) error {
	name := link.Attrs().Name
	ipnet := leaseNet(ack)
	if prev != nil && !prev.YourIPAddr.Equal(ack.YourIPAddr) {
		in.dropLease(link, prev)
	}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("set address %s on %s: %w", ipnet, name, err)
	}
	if mtu, ok := leaseMTU(ack); ok && mtu != link.Attrs().MTU {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("set MTU %d on %s: %w", mtu, name, err)
		}
		link.Attrs().MTU = mtu
		in.log.Printf("net: %s: MTU %d", name, mtu)
	}
	if dns := ack.DNS(); len(dns) > 0 {
		var search []string
		if l := ack.DomainSearch(); l != nil {
			search = l.Labels
		} else if d := ack.DomainName(); d != "" {
			search = []string{d}
		}
		in.setDNS(link.Attrs().Index, &dnsConfig{servers: dns, search: search})
	}
	if h := ack.HostName(); h != "" && in.cfg.hostname == "" && validHostname(h) {
		in.setHostname(h)
	}
	if routers := ack.Router(); len(routers) > 0 {
		return setDefaultRoute(link, ipnet, routers[0].To4())
	}
	return nil
}

// leaseMTU returns the interface MTU option of ack when it is valid.
func leaseMTU(ack *dhcpv4.DHCPv4) (int, bool) {
	b := ack.Options.Get(dhcpv4.OptionInterfaceMTU)
	if len(b) != 2 {
		return 0, false
	}
	mtu := int(b[0])<<8 | int(b[1])
	return mtu, mtu >= 576
}

// validHostname accepts a DHCP host name that sethostname and /etc/hosts
// can take.
func validHostname(h string) bool {
	if len(h) > 63 {
		return false
	}
	for _, r := range h {
		if !(r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// setDefaultRoute adds the default route via gw on link, with a metric
// that prefers interfaces with lower indexes.
func setDefaultRoute(link netlink.Link, ipnet *net.IPNet, gw net.IP) error {
	name := link.Attrs().Name
	idx := link.Attrs().Index
	if !ipnet.Contains(gw) {
		// Clouds that lease a /32 (GCE) put the gateway off-subnet: it
		// needs a link route of its own first.
		r := &netlink.Route{LinkIndex: idx, Dst: &net.IPNet{IP: gw, Mask: net.CIDRMask(32, 32)}, Scope: netlink.SCOPE_LINK}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("add route to gateway %s on %s: %w", gw, name, err)
		}
	}
	if err := netlink.RouteReplace(&netlink.Route{LinkIndex: idx, Gw: gw, Priority: 100 + idx}); err != nil {
		return fmt.Errorf("add default route via %s on %s: %w", gw, name, err)
	}
	return nil
}

// dropLease removes a lost lease's address and routes from link.
func (in *initProc) dropLease(link netlink.Link, ack *dhcpv4.DHCPv4) {
	idx := link.Attrs().Index
	if routers := ack.Router(); len(routers) > 0 {
		gw := routers[0].To4()
		_ = netlink.RouteDel(&netlink.Route{LinkIndex: idx, Gw: gw, Priority: 100 + idx})
		_ = netlink.RouteDel(&netlink.Route{LinkIndex: idx, Dst: &net.IPNet{IP: gw, Mask: net.CIDRMask(32, 32)}, Scope: netlink.SCOPE_LINK})
	}
	if err := netlink.AddrDel(link, &netlink.Addr{IPNet: leaseNet(ack)}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		in.log.Printf("net: %s: remove %s: %v", link.Attrs().Name, ack.YourIPAddr, err)
	}
	in.setDNS(idx, nil)
}

// describeLease summarises a lease for the log.
func describeLease(l *nclient4.Lease) string {
	a := l.ACK
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%d", a.YourIPAddr, maskBits(leaseNet(a).Mask))
	if r := a.Router(); len(r) > 0 {
		fmt.Fprintf(&b, " via %s", r[0])
	}
	if d := a.DNS(); len(d) > 0 {
		fmt.Fprintf(&b, " dns %s", d[0])
	}
	if mtu, ok := leaseMTU(a); ok {
		fmt.Fprintf(&b, " mtu %d", mtu)
	}
	fmt.Fprintf(&b, " lease %s", a.IPAddressLeaseTime(0))
	return b.String()
}

func maskBits(m net.IPMask) int {
	ones, _ := m.Size()
	return ones
}
