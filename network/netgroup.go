package network

import (
	"net/netip"

	ma "github.com/multiformats/go-multiaddr"
)

// NetGroup returns the network group of a multiaddr for placement
// diversity: the IPv4 /24 ("203.0.113.0/24") or the IPv6 /48
// ("2001:db8:1::/48") that holds its IP. IPv4-mapped IPv6 addresses count
// as IPv4. It returns "" for anything without a leading IP component (DNS
// names, relay-only addresses) and for strings that are not multiaddrs.
func NetGroup(multiaddr string) string {
	a, err := ma.NewMultiaddr(multiaddr)
	if err != nil {
		return ""
	}
	ip, ok := addrIP(a)
	if !ok {
		return ""
	}
	return ipGroup(ip)
}

// addrIP returns the IP of a multiaddr's leading ip4/ip6 component
// (skipping an ip6zone), unmapped.
func addrIP(a ma.Multiaddr) (netip.Addr, bool) {
	for _, c := range a {
		switch c.Code() {
		case ma.P_IP6ZONE:
			continue
		case ma.P_IP4, ma.P_IP6:
			ip, ok := netip.AddrFromSlice(c.RawValue())
			if !ok {
				return netip.Addr{}, false
			}
			return ip.Unmap(), true
		}
		return netip.Addr{}, false
	}
	return netip.Addr{}, false
}

func ipGroup(ip netip.Addr) string {
	bits := 48
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.WithZone("").Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// addrClass ranks addresses for choosing the one a peer's group is taken
// from: public beats loopback; other addresses (private LANs, link-local,
// CGNAT) say nothing about which network a peer is on and are not used.
func addrClass(ip netip.Addr) int {
	switch {
	case ip.IsLoopback():
		return 1
	case ip.IsGlobalUnicast() && !ip.IsPrivate() && !isSharedOrDoc(ip):
		return 2
	}
	return 0
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
}

func isSharedOrDoc(ip netip.Addr) bool {
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
