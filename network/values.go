package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dhtpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/cairn-storage/cairn/storage"
)

// Validator checks and orders the values of one DHT namespace. It has the
// shape of libp2p's record.Validator, so one value serves both the DHT
// (Config.Validators) and the pointer protocol's record cache.
//
// Keys are "/" + namespace + "/" + the rest; values are opaque bytes from
// the network. Validate must return an error (never panic) for any value
// that is not acceptable under key. Select is given values that have each
// passed Validate and returns the index of the best one; for equal seqs the
// tie must be broken the same way on every node (for example, bytewise
// larger value wins), and between identical values any index will do.
// Both are called from many goroutines at once.
type Validator interface {
	Validate(key string, value []byte) error
	Select(key string, values [][]byte) (int, error)
}

// reservedNamespaces are kept by the DHT for its own records.
var reservedNamespaces = map[string]bool{"pk": true, "ipns": true, "providers": true}

// KeyNamespace returns the namespace of a value key: its first path
// segment ("/cairn-folder/…" → "cairn-folder"). A key that does not start
// with "/", has an empty namespace or nothing after it is Invalid.
func KeyNamespace(key string) (string, error) {
	rest, ok := strings.CutPrefix(key, "/")
	if !ok {
		return "", storage.E("key namespace", storage.Invalid, fmt.Errorf("key %q does not start with /", truncate(key)))
	}
	ns, tail, ok := strings.Cut(rest, "/")
	if !ok || ns == "" || tail == "" {
		return "", storage.E("key namespace", storage.Invalid, fmt.Errorf("key %q is not /namespace/name", truncate(key)))
	}
	return ns, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// checkValidators refuses namespaces that cannot be registered.
func checkValidators(vs map[string]Validator) error {
	for ns, v := range vs {
		if ns == "" || strings.Contains(ns, "/") {
			return storage.E("new node", storage.Invalid, fmt.Errorf("bad validator namespace %q", ns))
		}
		if reservedNamespaces[ns] {
			return storage.E("new node", storage.Invalid, fmt.Errorf("validator namespace %q is the DHT's own", ns))
		}
		if v == nil {
			return storage.E("new node", storage.Invalid, fmt.Errorf("nil validator for namespace %q", ns))
		}
	}
	return nil
}

// dhtValidator adapts a Validator for the DHT. The DHT's value store
// refuses a PUT_VALUE unless Select puts the incoming value first, so a
// tie between identical values is resolved towards the incoming one: a
// republished record is accepted, not reported as stale.
type dhtValidator struct{ v Validator }

func (d dhtValidator) Validate(key string, value []byte) error { return d.v.Validate(key, value) }

func (d dhtValidator) Select(key string, values [][]byte) (int, error) {
	i, err := d.v.Select(key, values)
	if err != nil {
		return 0, err
	}
	if i < 0 || i >= len(values) {
		return 0, fmt.Errorf("validator selected %d of %d values", i, len(values))
	}
	if i != 0 && bytes.Equal(values[i], values[0]) {
		i = 0
	}
	return i, nil
}

// valuePutTimeout bounds one PUT_VALUE to one peer.
const valuePutTimeout = 20 * time.Second

func (n *Node) validator(op, key string) (Validator, error) {
	ns, err := KeyNamespace(key)
	if err != nil {
		return nil, storage.E(op, storage.Invalid, err)
	}
	v, ok := n.validators[ns]
	if !ok {
		return nil, storage.E(op, storage.Invalid, fmt.Errorf("no validator for namespace %q", ns))
	}
	return v, nil
}

// PutValue validates value under key with the validator of key's
// namespace (Config.Validators) and stores it on the DHT peers closest to
// key, in parallel. It returns once every one of them has answered or
// timed out. Each peer validates the value again and keeps it only if its
// validator's Select prefers it to the value the peer holds, so an older
// record never replaces a newer one on an honest peer.
//
// Errors: Invalid for a key without a registered namespace or a value the
// validator refuses (nothing is sent); Unavailable if no peer took the
// value: none was found, none answered, or every one refused it — on the
// DHT's wire a refusal (a stale or invalid value) is not told apart from
// a failure; Canceled when ctx ends first. value is not retained.
func (n *Node) PutValue(ctx context.Context, key string, value []byte) error {
	const op = "put value"
	v, err := n.validator(op, key)
	if err != nil {
		return err
	}
	if err := v.Validate(key, value); err != nil {
		return storage.E(op, storage.Invalid, err)
	}
	peers, err := n.dht.GetClosestPeers(ctx, key)
	if cerr := ctx.Err(); cerr != nil {
		return storage.E(op, storage.Canceled, cerr)
	}
	if len(peers) == 0 {
		if err == nil {
			err = errors.New("no DHT peer found")
		}
		return storage.E(op, storage.Unavailable, err)
	}
	pm, err := dhtpb.NewProtocolMessenger(n.dht.MessageSender())
	if err != nil {
		return storage.E(op, storage.Other, err)
	}
	rec := &recpb.Record{Key: []byte(key), Value: bytes.Clone(value)}
	var (
		took    atomic.Int32
		wg      sync.WaitGroup
		errOnce sync.Once
		lastErr error
	)
	for _, p := range peers {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, valuePutTimeout)
			defer cancel()
			if err := pm.PutValue(pctx, p, rec); err != nil {
				errOnce.Do(func() { lastErr = err })
				return
			}
			took.Add(1)
		})
	}
	wg.Wait()
	if took.Load() > 0 {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return storage.E(op, storage.Canceled, cerr)
	}
	return storage.E(op, storage.Unavailable, fmt.Errorf("none of %d DHT peers took the value: %w", len(peers), lastErr))
}

// GetValue looks key up in the DHT and returns the best value found, as
// chosen by the namespace's validator (every value received is validated
// first; invalid ones are dropped). Peers found holding a worse value are
// sent the best one in the background. The slice belongs to the caller.
//
// Errors: Invalid for a key without a registered namespace; NotExist if
// no peer has a valid value; Canceled when ctx ends before the lookup
// finishes (a value found so far is not returned: it may be stale);
// Unavailable when the lookup fails otherwise.
func (n *Node) GetValue(ctx context.Context, key string) ([]byte, error) {
	const op = "get value"
	v, err := n.validator(op, key)
	if err != nil {
		return nil, err
	}
	val, err := n.dht.GetValue(ctx, key)
	switch {
	case ctx.Err() != nil:
		return nil, storage.E(op, storage.Canceled, ctx.Err())
	case errors.Is(err, routing.ErrNotFound):
		return nil, storage.E(op, storage.NotExist, err)
	case err != nil:
		return nil, storage.E(op, storage.Unavailable, err)
	}
	// The DHT has validated it already; this is cheap insurance against a
	// change of that behaviour.
	if err := v.Validate(key, val); err != nil {
		return nil, storage.E(op, storage.Corrupt, err)
	}
	return val, nil
}
