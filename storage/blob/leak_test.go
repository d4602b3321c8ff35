package blob

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/chunker"
)

// Security issue 6, "confirmation of a file by a single storage peer":
// with public boundaries and exact sealed lengths, a peer that knows a
// candidate plaintext predicts every chunk length of the file and finds
// them in the headers of the fragments it holds.

// userClient is a client of the user whose keyring has the given root,
// configured as cmd/cairn configures it.
func userClient(t testing.TB, net storage.Network, root byte, p chunker.Params) *Client {
	t.Helper()
	kr := cryptree.KeyringFromRoot([32]byte{root, 0xca, 0x1e})
	c, err := New(Config{Network: net, Secret: kr.ChunkSecret(), ChunkerKey: kr.ChunkerKey(), Chunking: p})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// heldLengths returns, per peer, the sealed lengths in the headers of the
// fragments it holds: what one storage peer sees.
func heldLengths(t testing.TB, net *testNet) map[storage.PeerID]map[int]int {
	t.Helper()
	out := map[storage.PeerID]map[int]int{}
	for id, s := range net.mem {
		lens := map[int]int{}
		err := s.List(context.Background(), func(ref storage.Ref, _ int64) error {
			b, err := s.Get(context.Background(), ref)
			if err != nil {
				return err
			}
			h, err := erasure.ParseHeader(b)
			if err != nil {
				return err
			}
			lens[h.DataLen]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		out[id] = lens
	}
	return out
}

// chunkSizes returns the sizes of the chunks of data under the public table.
func publicSizes(data []byte, p chunker.Params) []int {
	var sizes []int
	prev := 0
	for _, e := range chunker.Boundaries(data, p) {
		sizes = append(sizes, e-prev)
		prev = e
	}
	return sizes
}

// TestConfirmationAttack runs the attack of the issue against the real
// client: a random 25 MiB candidate file, default chunking (about 25
// chunks), 18 in-memory peers. The peer predicts the sealed lengths from
// the public table (plaintext size + 17, as version 0x01 sealed them) and
// looks for them among the fragment headers it holds. It must find
// (essentially) none, not even when it pools what every peer holds.
func TestConfirmationAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("25 MiB put")
	}
	data := randBytes(2506, 25<<20)
	sizes := publicSizes(data, chunker.Default)
	net := newNet(18)
	c := userClient(t, net, 1, chunker.Default)
	m := put(t, c, data)

	held := heldLengths(t, net)
	all := map[int]bool{}
	best, bestPeer := 0, storage.PeerID("")
	for id, lens := range held {
		found := 0
		for _, n := range sizes {
			if lens[n+cryptree.ChunkOverhead] > 0 {
				found++
			}
		}
		if found > best {
			best, bestPeer = found, id
		}
		for l := range lens {
			all[l] = true
		}
	}
	pooled := 0
	for _, n := range sizes {
		if all[n+cryptree.ChunkOverhead] {
			pooled++
		}
	}
	// The same attacker, knowing the padding too, predicts the Padmé
	// buckets of the public boundaries. Buckets are coarse (32 KiB at
	// 1 MiB), so many match by chance: as many as for candidate files that
	// were never stored (the controls), so a match says nothing.
	paddedHits := func(sizes []int) int {
		n := 0
		for _, s := range sizes {
			if all[cryptree.PaddedChunkSize(s)] {
				n++
			}
		}
		return n
	}
	hits := paddedHits(sizes)
	control := 0
	const controls = 5
	for i := range controls {
		control += paddedHits(publicSizes(randBytes(uint64(3000+i), len(data)), chunker.Default))
	}
	meanControl := float64(control) / controls
	t.Logf("%d chunks predicted from the public table, file stored in %d chunks; exact lengths found: best single peer %q %d, all peers pooled %d; predicted padded lengths found pooled: %d, for files never stored %.1f on average",
		len(sizes), len(m.Chunks), bestPeer, best, pooled, hits, meanControl)
	if float64(hits) > meanControl+6 {
		t.Errorf("predicted padded lengths match %d times, %.1f for files never stored", hits, meanControl)
	}
	if len(sizes) < 20 {
		t.Fatalf("only %d chunks predicted", len(sizes))
	}
	if best > 1 || pooled > 1 {
		t.Fatalf("a storage peer confirmed the file: %d of %d predicted sealed lengths found on one peer, %d pooled",
			best, len(sizes), pooled)
	}
	mustRead(t, c, m, data)
}

// ends returns the end offsets of m's chunks.
func ends(m *Manifest) []int {
	var out []int
	off := 0
	for _, ck := range m.Chunks {
		off += ck.Size
		out = append(out, off)
	}
	return out
}

// TestBoundariesPerUser: two users cut the same file differently; one user
// (also after recovering the keyring) always cuts it the same way, so a
// second upload and an edited version dedup against the first.
func TestBoundariesPerUser(t *testing.T) {
	data := randBytes(77, 2<<20)
	net := newNet(18)
	alice, bob := userClient(t, net, 1, small), userClient(t, net, 2, small)
	ma, mb := put(t, alice, data), put(t, bob, data)
	ea, eb := ends(ma), ends(mb)
	in := map[int]bool{}
	for _, e := range ea[:len(ea)-1] {
		in[e] = true
	}
	common := 0
	for _, e := range eb[:len(eb)-1] {
		if in[e] {
			common++
		}
	}
	// Independent cuts (~250 each over 2 MiB) share ~250²/2M ≈ 0.03
	// offsets by chance.
	if common > 3 {
		t.Errorf("alice and bob share %d of %d/%d boundaries", common, len(ea), len(eb))
	}
	if pub := publicSizes(data, small); fmt.Sprint(pub) == fmt.Sprint(sizesOf(ma)) {
		t.Error("alice's chunks are the public table's")
	}

	// Alice again, with a keyring recovered from the same root.
	alice2 := userClient(t, net, 1, small)
	ma2 := put(t, alice2, data)
	if len(ma2.Chunks) != len(ma.Chunks) {
		t.Fatalf("alice's second upload has %d chunks, the first %d", len(ma2.Chunks), len(ma.Chunks))
	}
	for i := range ma.Chunks {
		a, b := ma.Chunks[i], ma2.Chunks[i]
		if a.ID != b.ID || a.Key != b.Key || a.Size != b.Size || a.SealedLen != b.SealedLen {
			t.Fatalf("chunk %d differs between alice's uploads", i)
		}
	}
	// An edited version reuses all but the chunks around the edit.
	edited := bytes.Clone(data)
	edited[len(edited)/2] ^= 0xff
	byID := map[[32]byte]Chunk{}
	for _, ck := range ma.Chunks {
		byID[ck.ID] = ck
	}
	reused := 0
	mv, err := alice.Put(context.Background(), bytes.NewReader(edited), PutOptions{Reuse: func(id [32]byte) (Chunk, bool) {
		ck, ok := byID[id]
		if ok {
			reused++
		}
		return ck, ok
	}})
	if err != nil {
		t.Fatal(err)
	}
	if fresh := len(mv.Chunks) - reused; fresh < 1 || fresh > 3 {
		t.Errorf("edited version: %d of %d chunks new, want 1..3", fresh, len(mv.Chunks))
	}
	mustRead(t, alice, mv, edited)
}

func sizesOf(m *Manifest) []int {
	var s []int
	for _, ck := range m.Chunks {
		s = append(s, ck.Size)
	}
	return s
}

// TestSealedLengthBuckets: the sealed lengths peers see fall into few
// buckets: hundreds of distinct chunk sizes give a few dozen lengths, and
// the manifest still has every true size.
func TestSealedLengthBuckets(t *testing.T) {
	data := randBytes(78, 3<<20)
	net := newNet(18)
	c := userClient(t, net, 3, small)
	m := put(t, c, data)
	sizes := map[int]bool{}
	for _, ck := range m.Chunks {
		sizes[ck.Size] = true
		if ck.SealedLen != cryptree.PaddedChunkSize(ck.Size) {
			t.Fatalf("chunk of %d bytes has sealed length %d, want %d", ck.Size, ck.SealedLen, cryptree.PaddedChunkSize(ck.Size))
		}
	}
	seen := map[int]bool{}
	for _, lens := range heldLengths(t, net) {
		for l := range lens {
			seen[l] = true
		}
	}
	t.Logf("%d chunks, %d distinct plaintext sizes, %d distinct sealed lengths in fragment headers", len(m.Chunks), len(sizes), len(seen))
	if len(sizes) < 200 || len(seen) > len(sizes)/4 {
		t.Fatalf("%d distinct plaintext sizes gave %d distinct sealed lengths", len(sizes), len(seen))
	}
	mustRead(t, c, m, data)
}

// TestVersion1Chunks: chunks sealed in version 0x01 (stored before padding)
// still read back, their manifests still parse, and a manifest whose sealed
// length is neither form is refused.
func TestVersion1Chunks(t *testing.T) {
	net := newNet(18)
	c := userClient(t, net, 4, small)
	secret := c.Config().Secret
	m := &Manifest{}
	var want []byte
	for i, n := range []int{5000, 70000, 1} {
		p := randBytes(uint64(900+i), n)
		want = append(want, p...)
		id, key := secret.Derive(p)
		sealed := cryptree.SealChunk(nil, key, p)
		ck, err := c.placeChunk(context.Background(), Chunk{ID: id, Key: key, Size: n, SealedLen: len(sealed)}, &sealed)
		if err != nil {
			t.Fatal(err)
		}
		m.Chunks = append(m.Chunks, ck)
		m.Size += int64(n)
	}
	mustRead(t, c, m, want)
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := ParseManifest(b)
	if err != nil {
		t.Fatalf("version 0x01 manifest: %v", err)
	}
	mustRead(t, c, m2, want)

	// Version 0x02 sealed lengths parse; any other length does not.
	mv := put(t, c, randBytes(901, 100<<10))
	for _, delta := range []int{0, 1, -1} {
		mm := *mv
		mm.Chunks = append([]Chunk(nil), mv.Chunks...)
		mm.Chunks[0].SealedLen = cryptree.PaddedChunkSize(mm.Chunks[0].Size) + delta
		b, err := mm.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseManifest(b); (err == nil) != (delta == 0) {
			t.Errorf("sealed length PaddedChunkSize%+d: parse error %v", delta, err)
		}
	}
}
