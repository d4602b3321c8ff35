package rendezvous

import (
	"encoding/binary"
	"math"
	"sort"

	"github.com/zeebo/blake3"

	"github.com/cairn-storage/cairn/storage"
)

// Order returns peers in weighted-rendezvous order for key, best first.
// The weight of each peer comes from r (nil: 1 for every peer); peers
// weighing 0 or less, or NaN, are left out. Equal scores (which take a
// hash collision) fall back to the peer id, so the order is the same on
// every node. peers is not modified; the result is a new slice.
func Order(key []byte, peers []storage.PeerInfo, r storage.Ranker) []storage.PeerInfo {
	type scored struct {
		p storage.PeerInfo
		s float64
	}
	out := make([]scored, 0, len(peers))
	for _, p := range peers {
		w := 1.0
		if r != nil {
			w = r.Weight(p)
		}
		if !(w > 0) {
			continue
		}
		out = append(out, scored{p, -w / math.Log(unit(key, p.ID))})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].s != out[j].s {
			return out[i].s > out[j].s
		}
		return out[i].p.ID < out[j].p.ID
	})
	res := make([]storage.PeerInfo, len(out))
	for i, s := range out {
		res[i] = s.p
	}
	return res
}

// First returns the ids of the first n peers of Order(key, peers, r):
// where the things named key live.
func First(key []byte, peers []storage.PeerInfo, r storage.Ranker, n int) []storage.PeerID {
	o := Order(key, peers, r)
	out := make([]storage.PeerID, 0, min(n, len(o)))
	for i := 0; i < len(o) && i < n; i++ {
		out = append(out, o[i].ID)
	}
	return out
}

// unit maps BLAKE3(key ‖ id) to (0,1): the top 53 bits of its first 8
// bytes (little endian), centred in their interval, so never 0 or 1.
func unit(key []byte, id storage.PeerID) float64 {
	h := blake3.New()
	h.Write(key)
	h.Write([]byte(id))
	var sum [32]byte
	h.Sum(sum[:0])
	return (float64(binary.LittleEndian.Uint64(sum[:])>>11) + 0.5) / (1 << 53)
}
