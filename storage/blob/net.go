package blob

import (
	"context"
	"sort"

	"github.com/cairn-storage/cairn/storage"
)

// Stores is a storage.Network made of local stores standing in for peers:
// for tests, benchmarks and the in-process demo. Each store is a peer in
// a network group of its own. A peer whose store is nil is listed but
// unreachable (a peer that went away).
type Stores map[storage.PeerID]storage.FragmentStore

// Peers lists the stores in id order.
func (s Stores) Peers(context.Context) ([]storage.PeerInfo, error) {
	out := make([]storage.PeerInfo, 0, len(s))
	for id := range s {
		out = append(out, storage.PeerInfo{ID: id, Net: string(id), Free: -1})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Store returns the store of peer p, or one that is always unavailable.
func (s Stores) Store(p storage.PeerID) storage.FragmentStore {
	if st := s[p]; st != nil {
		return st
	}
	return gone{p}
}

type gone struct{ p storage.PeerID }

func (g gone) err(op string) error {
	return storage.Ef(op, storage.Unavailable, string(g.p), nil)
}
func (g gone) Put(context.Context, storage.Ref, []byte) error { return g.err("put fragment") }
func (g gone) Get(context.Context, storage.Ref) ([]byte, error) {
	return nil, g.err("get fragment")
}
func (g gone) Has(context.Context, storage.Ref) (bool, error) { return false, g.err("has fragment") }
func (g gone) Delete(context.Context, storage.Ref) error      { return g.err("delete fragment") }
