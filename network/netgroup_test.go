package network

import (
	"net/netip"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

func TestNetGroup(t *testing.T) {
	cases := []struct{ in, want string }{
		{"/ip4/203.0.113.7/tcp/4001", "203.0.113.0/24"},
		{"/ip4/8.8.4.4/udp/4001/quic-v1", "8.8.4.0/24"},
		{"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWMetKAkRwfW1ctP7XtV4DAVkMtjAMeipga5b4Dc6UFCWu", "127.0.0.0/24"},
		{"/ip4/10.1.2.3/tcp/1", "10.1.2.0/24"},
		{"/ip6/2001:db8:1:2::5/udp/1/quic-v1", "2001:db8:1::/48"},
		{"/ip6/2a00:1450:4001:81c::200e/tcp/443", "2a00:1450:4001::/48"},
		{"/ip6/::1/tcp/1", "::/48"},
		{"/ip6/::ffff:198.51.100.9/tcp/1", "198.51.100.0/24"},
		{"/ip6zone/eth0/ip6/fe80::1/tcp/1", "fe80::/48"},
		{"/dns4/example.com/tcp/1", ""},
		{"/dns/example.com/tcp/1", ""},
		{"/p2p/12D3KooWMetKAkRwfW1ctP7XtV4DAVkMtjAMeipga5b4Dc6UFCWu/p2p-circuit", ""},
		{"", ""},
		{"garbage", ""},
		{"1.2.3.4:80", ""},
		{"/ip4/300.1.1.1/tcp/1", ""},
		{"/ip4/1.2.3.4/tcp/99999", ""},
	}
	for _, c := range cases {
		if got := NetGroup(c.in); got != c.want {
			t.Errorf("NetGroup(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPeerGroupPrefersPublic(t *testing.T) {
	mas := func(ss ...string) []ma.Multiaddr {
		var out []ma.Multiaddr
		for _, s := range ss {
			out = append(out, ma.StringCast(s))
		}
		return out
	}
	cases := []struct {
		name  string
		addrs []ma.Multiaddr
		want  string
	}{
		{"public over loopback and private", mas("/ip4/127.0.0.1/tcp/1", "/ip4/192.168.1.5/tcp/1", "/ip4/8.8.8.8/tcp/1"), "8.8.8.0/24"},
		{"loopback over private", mas("/ip4/192.168.1.5/tcp/1", "/ip6/::1/tcp/1"), "::/48"},
		{"private only", mas("/ip4/10.0.0.1/tcp/1", "/ip6/fe80::1/tcp/1"), ""},
		{"cgnat and documentation are not public", mas("/ip4/100.64.1.1/tcp/1", "/ip4/203.0.113.1/tcp/1"), ""},
		{"dns only", mas("/dns4/example.com/tcp/1"), ""},
		{"none", nil, ""},
	}
	for _, c := range cases {
		if got := peerGroup(nil, c.addrs); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func FuzzNetGroup(f *testing.F) {
	for _, s := range []string{"/ip4/1.2.3.4/tcp/1", "/ip6/2001:db8::1/udp/1/quic-v1", "/ip6zone/x/ip6/fe80::1", "/dns4/a/tcp/1", "", "/ip4", "/ip6/::ffff:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g := NetGroup(s)
		if g == "" {
			return
		}
		p, err := netip.ParsePrefix(g)
		if err != nil || (p.Bits() != 24 && p.Bits() != 48) || p.Masked() != p {
			t.Fatalf("NetGroup(%q) = %q: not a masked /24 or /48", s, g)
		}
	})
}
