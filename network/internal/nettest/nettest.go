// Package nettest holds what the protocol packages' tests share: libp2p
// hosts on 127.0.0.1 or on a mock network, and the hex vectors of
// network/PROTOCOL.md. For tests only.
package nettest

import (
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// RealHosts returns n hosts listening on 127.0.0.1 over TCP and TLS, each
// knowing the others' addresses, closed when the test ends.
func RealHosts(t testing.TB, n int) []host.Host {
	t.Helper()
	var hs []host.Host
	for range n {
		h, err := libp2p.New(
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.Security(libp2ptls.ID, libp2ptls.New),
			libp2p.DisableRelay(),
		)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		hs = append(hs, h)
	}
	for _, a := range hs {
		for _, b := range hs {
			if a != b {
				a.Peerstore().AddAddrs(b.ID(), b.Addrs(), time.Hour)
			}
		}
	}
	return hs
}

// MockHosts returns n connected hosts on a mock network.
func MockHosts(t testing.TB, n int) []host.Host {
	t.Helper()
	mn, err := mocknet.FullMeshConnected(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mn.Close() })
	return mn.Hosts()
}

// Vectors reads the ```hex NAME blocks of the file at path (PROTOCOL.md)
// and returns them by name, with the whole file.
func Vectors(t testing.TB, path string) (map[string][]byte, string) {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	re := regexp.MustCompile("(?s)```hex ([a-z-]+)\n(.*?)```")
	for _, m := range re.FindAllStringSubmatch(string(doc), -1) {
		b, err := hex.DecodeString(strings.Join(strings.Fields(m[2]), ""))
		if err != nil {
			t.Errorf("vector %s: %v", m[1], err)
		}
		out[m[1]] = b
	}
	return out, string(doc)
}

// HexBlock formats b as the vectors are written: 16 bytes a line.
func HexBlock(b []byte) string {
	var s strings.Builder
	for i := 0; i < len(b); i += 16 {
		line := b[i:min(i+16, len(b))]
		for j, c := range line {
			if j > 0 {
				s.WriteByte(' ')
			}
			s.WriteString(hex.EncodeToString([]byte{c}))
		}
		s.WriteByte('\n')
	}
	return s.String()
}
