package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/network/pointer"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/drive"
)

// recordNamespace is the DHT and pointer-service namespace of folder
// records ("/cairn-folder/<id>").
const recordNamespace = "cairn-folder"

// recordValidator accepts a folder record only under its own key with a
// valid signature, and prefers the highest sequence number: wired into the
// DHT and into every storage peer's pointer service, so neither a forged
// record nor a rollback to an older one is stored.
type recordValidator struct{}

// verified remembers records whose signature checked out, by the SHA-256
// of their bytes: the DHT validates every record it sees, often the same
// one many times, and an Ed25519 verification costs ~50 µs.
var verified struct {
	sync.Mutex
	m map[[32]byte]*cryptree.Record
}

const maxVerified = 8192

// parseRecord is cryptree.ParseRecord with the verified-record cache.
func parseRecord(value []byte) (*cryptree.Record, error) {
	h := sha256.Sum256(value)
	verified.Lock()
	rec := verified.m[h]
	verified.Unlock()
	if rec != nil {
		return rec, nil
	}
	rec, err := cryptree.ParseRecord(value)
	if err != nil {
		return nil, err
	}
	verified.Lock()
	if verified.m == nil || len(verified.m) >= maxVerified {
		verified.m = make(map[[32]byte]*cryptree.Record)
	}
	verified.m[h] = rec
	verified.Unlock()
	return rec, nil
}

func (recordValidator) Validate(key string, value []byte) error {
	id, err := cryptree.ParseRecordKey(key)
	if err != nil {
		return storage.E("validate record", storage.Invalid, err)
	}
	rec, err := parseRecord(value)
	if err != nil {
		return storage.E("validate record", storage.Invalid, err)
	}
	if rec.ID != id {
		return storage.E("validate record", storage.Invalid, errors.New("record stored under another folder's key"))
	}
	return nil
}

func (recordValidator) Select(key string, values [][]byte) (int, error) {
	recs := make([]*cryptree.Record, len(values))
	for i, v := range values {
		if r, err := parseRecord(v); err == nil {
			recs[i] = r
		}
	}
	best := cryptree.SelectRecord(recs)
	if best < 0 {
		return 0, storage.E("select record", storage.Invalid, fmt.Errorf("no valid record among %d", len(values)))
	}
	return best, nil
}

// recordReplicas is how many storage peers keep a copy of each folder
// record and of each inbox, beside the DHT.
const recordReplicas = 6

// closest orders peers by rendezvous hashing on key (SHA-256 of key and
// peer id, highest first) and keeps the first n: where the records and
// inbox messages of key live.
func closest(peers []storage.PeerInfo, key []byte, n int) []storage.PeerID {
	type scored struct {
		id storage.PeerID
		h  [32]byte
	}
	s := make([]scored, len(peers))
	for i, p := range peers {
		h := sha256.New()
		h.Write(key)
		h.Write([]byte(p.ID))
		copy(s[i].h[:], h.Sum(nil))
		s[i].id = p.ID
	}
	sort.Slice(s, func(i, j int) bool { return bytes.Compare(s[i].h[:], s[j].h[:]) > 0 })
	out := make([]storage.PeerID, 0, n)
	for i := 0; i < len(s) && i < n; i++ {
		out = append(out, s[i].id)
	}
	return out
}

// recordTTL is how long a record this node fetched or published is used
// without asking the network again: bulk work (a tree of 2,000 files)
// resolves the same folders over and over. Another writer's change to a
// shared folder shows up after at most this long; a write based on a
// stale copy is refused by the peers (Exist) and drops the copy.
const recordTTL = 2 * time.Second

// recordCache holds recently seen records.
type recordCache struct {
	mu sync.Mutex
	m  map[cryptree.FolderID]cachedRecord
}

type cachedRecord struct {
	rec *cryptree.Record
	at  time.Time
}

func (c *recordCache) get(id cryptree.FolderID) *cryptree.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok && time.Since(e.at) < recordTTL {
		return e.rec
	}
	return nil
}

func (c *recordCache) put(rec *cryptree.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[cryptree.FolderID]cachedRecord{}
	}
	if old, ok := c.m[rec.ID]; ok && old.rec.Seq > rec.Seq {
		return
	}
	c.m[rec.ID] = cachedRecord{rec, time.Now()}
}

func (c *recordCache) drop(id cryptree.FolderID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// netRecords is drive.Records over the network: the DHT plus the pointer
// service of the recordReplicas storage peers closest to the folder.
type netRecords struct{ n *node }

func (r netRecords) holders(ctx context.Context, key string) ([]storage.PeerID, error) {
	peers, err := r.n.net.Peers(ctx, pointer.ProtocolID)
	if err != nil {
		return nil, err
	}
	return closest(peers, []byte(key), recordReplicas), nil
}

// Publish puts rec on its storage peers, and in the DHT in the
// background. It succeeds if any peer took it; a peer holding a newer
// record refuses (Exist). With no storage peer to take it, it waits for
// the DHT.
func (r netRecords) Publish(ctx context.Context, rec *cryptree.Record) error {
	key, val := cryptree.RecordKey(rec.ID), rec.Marshal()
	hs, err := r.holders(ctx, key)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	took, stale := 0, 0
	var lastErr error
	for _, p := range hs {
		wg.Add(1)
		go func(p storage.PeerID) {
			defer wg.Done()
			err := r.n.ptr.PutRecord(ctx, p, key, val)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				took++
			case storage.KindOf(err) == storage.Exist:
				stale++
				lastErr = err
			default:
				lastErr = err
			}
		}(p)
	}
	wg.Wait()
	switch {
	case stale > 0:
		// Some peer holds a record that beats this one (another writer was
		// first); Select decides the same way everywhere, so this write
		// has lost even where it was taken.
		r.n.recs.drop(rec.ID)
		return storage.E("publish record", storage.Exist, lastErr)
	case took > 0:
		// The DHT copy is for lookups that miss the peers (they changed,
		// or all went away): it need not hold up the write.
		r.n.dhtPut.publish(r.n, rec)
		r.n.recs.put(rec)
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.n.net.PutValue(dctx, key, val); err == nil {
		r.n.recs.put(rec)
		return nil
	} else if lastErr == nil {
		lastErr = err
	}
	return storage.E("publish record", storage.Unavailable, lastErr)
}

// dhtPublisher copies folder records into the DHT in the background: at
// most one put per folder at a time and at most one per dhtSpacing, each
// with the newest record published meanwhile. A folder that takes a
// thousand commits in a tree put then costs a few DHT puts instead of a
// thousand (each a Kademlia lookup and twenty stores: 12 % of the storage
// peers' CPU in a 2,000-file tree put before).
type dhtPublisher struct {
	mu      sync.Mutex
	pending map[cryptree.FolderID]*cryptree.Record
	running map[cryptree.FolderID]bool
}

const dhtSpacing = time.Second

func (p *dhtPublisher) publish(n *node, rec *cryptree.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		p.pending = map[cryptree.FolderID]*cryptree.Record{}
		p.running = map[cryptree.FolderID]bool{}
	}
	if old := p.pending[rec.ID]; old == nil || old.Seq <= rec.Seq {
		p.pending[rec.ID] = rec
	}
	if p.running[rec.ID] {
		return
	}
	p.running[rec.ID] = true
	go p.run(n, rec.ID)
}

func (p *dhtPublisher) run(n *node, id cryptree.FolderID) {
	for {
		p.mu.Lock()
		rec := p.pending[id]
		delete(p.pending, id)
		if rec == nil {
			delete(p.running, id)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := n.net.PutValue(ctx, cryptree.RecordKey(id), rec.Marshal())
		cancel()
		if err != nil && n.cfg.Logf != nil {
			n.cfg.Logf("records: DHT copy of folder %s seq %d: %v", id.String()[:8], rec.Seq, err)
		}
		if d := dhtSpacing - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
}

// Lookup asks the folder's storage peers and the DHT at once and returns
// the best valid record: the peers answer in a few milliseconds, the DHT
// gets up to a second more: it is the independent source that outvotes
// storage peers serving an old record.
func (r netRecords) Lookup(ctx context.Context, id cryptree.FolderID) (*cryptree.Record, error) {
	if rec := r.n.recs.get(id); rec != nil {
		return rec, nil
	}
	key := cryptree.RecordKey(id)
	hs, err := r.holders(ctx, key)
	if err != nil {
		return nil, err
	}
	type answer struct {
		val []byte
		err error
		dht bool
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan answer, len(hs)+1)
	for _, p := range hs {
		go func(p storage.PeerID) {
			v, err := r.n.ptr.GetRecord(ctx, p, key)
			ch <- answer{v, err, false}
		}(p)
	}
	go func() {
		v, err := r.n.net.GetValue(ctx, key)
		ch <- answer{v, err, true}
	}()
	var recs []*cryptree.Record
	var grace <-chan time.Time
	peersLeft, dhtDone := len(hs), false
	var lastErr error
	notFound := 0
	for peersLeft > 0 || !dhtDone {
		select {
		case a := <-ch:
			if a.dht {
				dhtDone = true
			} else {
				peersLeft--
			}
			if a.err != nil {
				if storage.KindOf(a.err) == storage.NotExist {
					notFound++
				} else {
					lastErr = a.err
				}
			} else if rec, err := parseRecord(a.val); err == nil && rec.ID == id {
				recs = append(recs, rec)
			}
			if peersLeft == 0 && !dhtDone && grace == nil {
				grace = time.After(time.Second)
			}
		case <-grace:
			dhtDone, peersLeft = true, 0
		case <-ctx.Done():
			return nil, storage.E("lookup record", storage.Canceled, ctx.Err())
		}
	}
	if best := cryptree.SelectRecord(recs); best >= 0 {
		r.n.recs.put(recs[best])
		return recs[best], nil
	}
	if notFound == 0 {
		// Nobody could say "not there": do not let a caller take an
		// unreachable record for a missing one (it might create a new one).
		if lastErr == nil {
			lastErr = errors.New("no storage peer or DHT node answered")
		}
		return nil, storage.E("lookup record", storage.Unavailable, lastErr)
	}
	return nil, storage.Ef("lookup record", storage.NotExist, id.String()[:12], errors.New("no record found"))
}

// netInbox is drive.Inbox over the pointer service of the storage peers
// closest to the recipient's inbox id.
type netInbox struct {
	n    *node
	self ed25519.PrivateKey
}

func (b netInbox) peers(ctx context.Context, inbox [32]byte) ([]storage.PeerID, error) {
	ps, err := b.n.net.Peers(ctx, pointer.ProtocolID)
	if err != nil {
		return nil, err
	}
	return closest(ps, inbox[:], recordReplicas), nil
}

func (b netInbox) Send(ctx context.Context, to ed25519.PublicKey, msg []byte) error {
	inbox := cryptree.InboxID(to)
	hs, err := b.peers(ctx, inbox)
	if err != nil {
		return err
	}
	took := 0
	var lastErr error
	for _, p := range hs {
		if _, err := b.n.ptr.InboxPut(ctx, p, inbox, msg); err != nil {
			lastErr = err
			continue
		}
		took++
	}
	if took == 0 {
		if lastErr == nil {
			lastErr = errors.New("no storage peer reachable")
		}
		return storage.E("deliver share", storage.Unavailable, lastErr)
	}
	return nil
}

func (b netInbox) Fetch(ctx context.Context) ([]drive.InboxMessage, error) {
	inbox := cryptree.InboxID(b.self.Public().(ed25519.PublicKey))
	hs, err := b.peers(ctx, inbox)
	if err != nil {
		return nil, err
	}
	seen := map[[32]byte]bool{}
	var out []drive.InboxMessage
	for _, p := range hs {
		msgs, err := b.n.ptr.InboxList(ctx, p, inbox)
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if !seen[m.ID] {
				seen[m.ID] = true
				out = append(out, drive.InboxMessage{ID: m.ID, Data: m.Data})
			}
		}
	}
	return out, nil
}

func (b netInbox) Delete(ctx context.Context, id [32]byte) error {
	inbox := cryptree.InboxID(b.self.Public().(ed25519.PublicKey))
	hs, err := b.peers(ctx, inbox)
	if err != nil {
		return err
	}
	for _, p := range hs {
		_ = b.n.ptr.InboxDelete(ctx, p, inbox, id, b.self)
	}
	return nil
}
