package records

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/network/pointer"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/rendezvous"
)

// Replicas is how many storage peers keep a copy of each folder record
// and of each inbox, beside the DHT.
const Replicas = 6

// Timings of publication and lookup.
const (
	// dhtTimeout bounds one DHT put, in the background or when no holder
	// took a record.
	dhtTimeout = 30 * time.Second
	// dhtSpacing is the least time between two DHT puts of one folder.
	dhtSpacing = time.Second
	// dhtGrace is how long a lookup waits for the DHT after the last
	// holder answered.
	dhtGrace = time.Second
)

// Config configures a Client. Node and Pointer are required.
type Config struct {
	// Node gives the storage peers (those speaking pointer.ProtocolID)
	// and the DHT. Its Config.Validators must map Namespace to
	// Validator{}, or every DHT put and get fails with Invalid.
	Node *network.Node
	// Pointer reaches the holders' pointer services.
	Pointer *pointer.Client
	// Logf receives failures of background DHT copies; nil means silent.
	// It may be called from several goroutines at once.
	Logf func(format string, args ...any)
}

// Client publishes and looks up folder records (it is a drive.Records)
// and reaches inboxes (Inbox). All methods are safe for concurrent use.
type Client struct {
	node *network.Node
	ptr  *pointer.Client
	logf func(string, ...any)

	recent cache
	dht    publisher

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup
}

// New returns a Client. Its background work runs until ctx ends or Close.
//
// Errors: Invalid if Node or Pointer is missing.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Node == nil || cfg.Pointer == nil {
		return nil, storage.E("new records", storage.Invalid, errors.New("Node and Pointer are required"))
	}
	c := &Client{node: cfg.Node, ptr: cfg.Pointer, logf: cfg.Logf}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.dht.c = c
	return c, nil
}

// Close cancels the background work (pending DHT copies are dropped,
// lookups still running end with Canceled) and waits for it to stop.
// Publish and Lookup fail with Unavailable afterwards. Close may be called
// more than once.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

var errClosed = errors.New("records client closed")

// spawn runs f in a goroutine Close waits for; false after Close.
func (c *Client) spawn(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// bound returns ctx, also cancelled by Close.
func (c *Client) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// holders returns the storage peers that keep key: the first Replicas of
// its rendezvous order, all peers weighing alike.
func (c *Client) holders(ctx context.Context, key []byte) ([]storage.PeerID, error) {
	peers, err := c.node.Peers(ctx, pointer.ProtocolID)
	if err != nil {
		return nil, err
	}
	return rendezvous.First(key, peers, nil, Replicas), nil
}

// Holders returns the storage peers that keep the record under key (a
// cryptree.RecordKey), best first: at most Replicas of them.
//
// Errors: as network.Node.Peers.
func (c *Client) Holders(ctx context.Context, key string) ([]storage.PeerID, error) {
	return c.holders(ctx, []byte(key))
}

// Forget drops folder id from the records seen recently, so the next
// Lookup asks the network.
func (c *Client) Forget(id cryptree.FolderID) { c.recent.drop(id) }

// Publish puts rec on its holders, and in the DHT in the background. It
// succeeds if any holder took it; a holder keeping a record that beats it
// refuses (Exist), and then the write has lost everywhere, since every
// peer selects alike. With no holder to take it, it waits (up to 30 s)
// for the DHT. rec is not modified; it is kept as the folder's recent
// record.
//
// Errors: Exist (another writer was first), Unavailable (nobody took
// it, or after Close), and the errors of Node.Peers.
func (c *Client) Publish(ctx context.Context, rec *cryptree.Record) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return storage.E("publish record", storage.Unavailable, errClosed)
	}
	ctx, cancel := c.bound(ctx)
	defer cancel()
	key, val := cryptree.RecordKey(rec.ID), rec.Marshal()
	hs, err := c.holders(ctx, []byte(key))
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	took, stale := 0, 0
	var lastErr error
	for _, p := range hs {
		wg.Go(func() {
			err := c.ptr.PutRecord(ctx, p, key, val)
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
		})
	}
	wg.Wait()
	switch {
	case stale > 0:
		// Some peer holds a record that beats this one (another writer was
		// first); Select decides the same way everywhere, so this write
		// has lost even where it was taken.
		c.recent.drop(rec.ID)
		return storage.E("publish record", storage.Exist, lastErr)
	case took > 0:
		// The DHT copy is for lookups that miss the peers (they changed,
		// or all went away): it need not hold up the write.
		c.dht.publish(rec)
		c.recent.put(rec)
		return nil
	}
	dctx, dcancel := context.WithTimeout(ctx, dhtTimeout)
	defer dcancel()
	if err := c.node.PutValue(dctx, key, val); err == nil {
		c.recent.put(rec)
		return nil
	} else if lastErr == nil {
		lastErr = err
	}
	return storage.E("publish record", storage.Unavailable, lastErr)
}

// Lookup asks the folder's holders and the DHT at once and returns the
// best valid record (cryptree.SelectRecord): the holders answer in a few
// milliseconds, the DHT gets up to a second more, since it is the
// independent source that outvotes holders serving an old record. A
// record seen in the last TTL is returned without asking. Answers that do
// not parse, fail their signature or belong to another folder are
// ignored. The record returned is shared: do not modify it.
//
// Errors: NotExist if someone answered "not found" and nobody had a valid
// record; Unavailable if nobody could answer (or after Close); Canceled
// when ctx ends first; the errors of Node.Peers.
func (c *Client) Lookup(ctx context.Context, id cryptree.FolderID) (*cryptree.Record, error) {
	if rec := c.recent.get(id); rec != nil {
		return rec, nil
	}
	key := cryptree.RecordKey(id)
	hs, err := c.holders(ctx, []byte(key))
	if err != nil {
		return nil, err
	}
	type answer struct {
		val []byte
		err error
		dht bool
	}
	ctx, cancel := c.bound(ctx)
	defer cancel()
	ch := make(chan answer, len(hs)+1)
	for _, p := range hs {
		if !c.spawn(func() {
			v, err := c.ptr.GetRecord(ctx, p, key)
			ch <- answer{v, err, false}
		}) {
			return nil, storage.E("lookup record", storage.Unavailable, errClosed)
		}
	}
	if !c.spawn(func() {
		v, err := c.node.GetValue(ctx, key)
		ch <- answer{v, err, true}
	}) {
		return nil, storage.E("lookup record", storage.Unavailable, errClosed)
	}
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
				grace = time.After(dhtGrace)
			}
		case <-grace:
			dhtDone, peersLeft = true, 0
		case <-ctx.Done():
			if c.ctx.Err() != nil {
				return nil, storage.E("lookup record", storage.Unavailable, errClosed)
			}
			return nil, storage.E("lookup record", storage.Canceled, ctx.Err())
		}
	}
	if best := cryptree.SelectRecord(recs); best >= 0 {
		c.recent.put(recs[best])
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
