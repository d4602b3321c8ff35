// Package nettest holds what the protocol packages' tests share: libp2p
// hosts on 127.0.0.1 or on a mock network, and the hex vectors of
// network/PROTOCOL.md. For tests only.
package nettest

import (
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
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

// Seq returns n bytes counting up from from: the vectors' keys and refs.
func Seq(from byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}

// VectorKeys are the keys PROTOCOL.md's vectors use: the signer's Ed25519
// key from the seed 20 21 … 3f, and the peer ID of the server whose key
// comes from the seed 40 41 … 5f.
func VectorKeys(t testing.TB) (signer ed25519.PrivateKey, server peer.ID) {
	t.Helper()
	signer = ed25519.NewKeyFromSeed(Seq(0x20, 32))
	sk, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(Seq(0x40, 32)))
	if err != nil {
		t.Fatal(err)
	}
	if server, err = peer.IDFromPrivateKey(sk); err != nil {
		t.Fatal(err)
	}
	return signer, server
}
