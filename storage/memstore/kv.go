package memstore

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/cairn-storage/cairn/storage"
)

// KV is an in-memory storage.KV with keys ordered bytewise.
//
// All methods are safe for concurrent use. Keys and values passed in are
// copied; values handed out (by Get and to Scan's fn) are fresh copies the
// caller owns. Get of a missing key returns a storage.NotExist error; a done
// context gives storage.Canceled.
type KV struct {
	mu   sync.RWMutex
	keys []string          // sorted
	m    map[string][]byte // values are never modified in place
}

var _ storage.KV = (*KV)(nil)

// NewKV returns an empty KV.
func NewKV() *KV {
	return &KV{m: make(map[string][]byte)}
}

// Get returns a copy of the value stored under key.
func (kv *KV) Get(ctx context.Context, key []byte) ([]byte, error) {
	const op = "kv get"
	if err := ctx.Err(); err != nil {
		return nil, storage.E(op, storage.Canceled, err)
	}
	kv.mu.RLock()
	v, ok := kv.m[string(key)]
	kv.mu.RUnlock()
	if !ok {
		return nil, storage.E(op, storage.NotExist, nil)
	}
	return append([]byte{}, v...), nil
}

// Set stores a copy of value under key, replacing any earlier value.
func (kv *KV) Set(ctx context.Context, key, value []byte) error {
	if err := ctx.Err(); err != nil {
		return storage.E("kv set", storage.Canceled, err)
	}
	k := string(key)
	v := append([]byte{}, value...)
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if _, ok := kv.m[k]; !ok {
		i, _ := slices.BinarySearch(kv.keys, k)
		kv.keys = slices.Insert(kv.keys, i, k)
	}
	kv.m[k] = v
	return nil
}

// Delete removes key; removing a missing key is not an error.
func (kv *KV) Delete(ctx context.Context, key []byte) error {
	if err := ctx.Err(); err != nil {
		return storage.E("kv delete", storage.Canceled, err)
	}
	k := string(key)
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if _, ok := kv.m[k]; !ok {
		return nil
	}
	delete(kv.m, k)
	if i, found := slices.BinarySearch(kv.keys, k); found {
		kv.keys = slices.Delete(kv.keys, i, i+1)
	}
	return nil
}

// Scan calls fn, in key order, for each key with the prefix as it was when
// Scan was called, until fn returns an error, which Scan returns as is. fn
// owns the slices it is given and may call the KV's other methods, so it can
// delete what it visits. Scan returns a storage.Canceled error if ctx is
// done between calls.
func (kv *KV) Scan(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error {
	type entry struct {
		k string
		v []byte
	}
	p := string(prefix)
	kv.mu.RLock()
	i, _ := slices.BinarySearch(kv.keys, p)
	var snap []entry
	for _, k := range kv.keys[i:] {
		if !strings.HasPrefix(k, p) {
			break
		}
		snap = append(snap, entry{k, kv.m[k]})
	}
	kv.mu.RUnlock()
	for _, e := range snap {
		if err := ctx.Err(); err != nil {
			return storage.E("kv scan", storage.Canceled, err)
		}
		if err := fn([]byte(e.k), append([]byte{}, e.v...)); err != nil {
			return err
		}
	}
	return nil
}
