package rendezvous

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cairn-storage/cairn/storage"
)

func testPeers(n int) []storage.PeerInfo {
	var ps []storage.PeerInfo
	for i := range n {
		ps = append(ps, storage.PeerInfo{ID: storage.PeerID(fmt.Sprint("p", i))})
	}
	return ps
}

func ids(ps []storage.PeerInfo) []storage.PeerID {
	var out []storage.PeerID
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

// TestOrderVector pins the order: fragment placement and record holders
// both depend on it, and a change moves where every record lives.
func TestOrderVector(t *testing.T) {
	key := make([]byte, 32)
	key[0] = 1
	got := First(key, testPeers(10), nil, 10)
	want := []storage.PeerID{"p7", "p4", "p8", "p2", "p3", "p5", "p9", "p1", "p6", "p0"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

type weights map[storage.PeerID]float64

func (w weights) Weight(p storage.PeerInfo) float64 { return w[p.ID] }

func TestOrderEqualWeightsIsNil(t *testing.T) {
	peers := testPeers(20)
	one := weights{}
	for _, p := range peers {
		one[p.ID] = 1
	}
	for k := range 100 {
		key := []byte{byte(k)}
		if a, b := ids(Order(key, peers, nil)), ids(Order(key, peers, one)); !slices.Equal(a, b) {
			t.Fatalf("key %d: nil ranker %v, weights 1 %v", k, a, b)
		}
	}
}

func TestOrderWeights(t *testing.T) {
	peers := []storage.PeerInfo{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	w := weights{"a": 1, "b": 3, "c": 0}
	wins := map[storage.PeerID]int{}
	for k := range 4000 {
		o := Order([]byte{byte(k), byte(k >> 8)}, peers, w)
		if len(o) != 2 {
			t.Fatalf("weight 0 peer not excluded: %v", o)
		}
		wins[o[0].ID]++
	}
	if r := float64(wins["b"]) / float64(wins["a"]); r < 2.4 || r > 3.6 {
		t.Fatalf("weight 3 vs 1 won %d vs %d times", wins["b"], wins["a"])
	}
}

// TestOrderStable: removing one peer moves few of the first places, and
// the input order of the peers does not matter.
func TestOrderStable(t *testing.T) {
	peers := testPeers(30)
	rev := slices.Clone(peers)
	slices.Reverse(rev)
	moved := 0
	for k := range 200 {
		key := []byte{byte(k), byte(k >> 8)}
		a := First(key, peers, nil, 6)
		if b := First(key, rev, nil, 6); !slices.Equal(a, b) {
			t.Fatalf("key %d: order depends on the input order: %v vs %v", k, a, b)
		}
		for _, p := range First(key, peers[1:], nil, 6) {
			if !slices.Contains(a, p) {
				moved++
			}
		}
	}
	if moved > 200*6/len(peers)*2 {
		t.Fatalf("removing 1 of %d peers moved %d of %d places", len(peers), moved, 200*6)
	}
}

func TestFirstShort(t *testing.T) {
	if got := First([]byte("k"), testPeers(3), nil, 6); len(got) != 3 {
		t.Fatalf("3 peers, 6 wanted: got %v", got)
	}
	if got := First([]byte("k"), nil, nil, 6); len(got) != 0 {
		t.Fatalf("no peers: got %v", got)
	}
}
