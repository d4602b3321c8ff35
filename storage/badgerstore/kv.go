package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/cairn-storage/cairn/storage"
)

// kv is a namespaced storage.KV: its keys live under "k/"+namespace+"/".
type kv struct {
	db     *DB
	prefix []byte
	err    error // set for an invalid namespace: every method returns it
}

// KV returns the key-value store for namespace, kept in this database
// under the prefix "k/"+namespace+"/". Namespaces are disjoint. A
// namespace must be non-empty and must not contain '/': for one that does,
// every method of the returned KV fails with storage.Invalid.
//
// The KV is safe for concurrent use. Keys and values passed in are not
// retained; values handed out (by Get, and the key and value given to
// Scan's fn) are fresh copies the caller owns. Get of a missing key gives
// storage.NotExist; keys over 60000 bytes or values larger than the
// database accepts give storage.Invalid; a done context gives
// storage.Canceled; database failures give storage.IO.
func (db *DB) KV(namespace string) storage.KV {
	k := &kv{db: db, prefix: []byte("k/" + namespace + "/")}
	if namespace == "" || bytes.IndexByte([]byte(namespace), '/') >= 0 {
		k.err = storage.Ef("open kv", storage.Invalid, namespace, errors.New("namespace must be non-empty and without '/'"))
	}
	return k
}

func (k *kv) key(key []byte) []byte {
	return append(append(make([]byte, 0, len(k.prefix)+len(key)), k.prefix...), key...)
}

// check runs the checks common to every method and enters the database.
func (k *kv) check(ctx context.Context, op string, key []byte) error {
	if k.err != nil {
		return k.err
	}
	if err := ctx.Err(); err != nil {
		return storage.E(op, storage.Canceled, err)
	}
	if len(k.prefix)+len(key) > maxKeySize {
		return storage.E(op, storage.Invalid, fmt.Errorf("key of %d bytes is too long", len(key)))
	}
	return k.db.enter(op)
}

func (k *kv) Get(ctx context.Context, key []byte) ([]byte, error) {
	const op = "kv get"
	if err := k.check(ctx, op, key); err != nil {
		return nil, err
	}
	defer k.db.leave()
	var v []byte
	err := k.db.b.View(func(txn *badger.Txn) error {
		item, err := txn.Get(k.key(key))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, translate(op, "", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (k *kv) Set(ctx context.Context, key, value []byte) error {
	const op = "kv set"
	if int64(len(value)) > k.db.maxValue {
		return storage.E(op, storage.Invalid, fmt.Errorf("value of %d bytes is larger than the %d the store accepts", len(value), k.db.maxValue))
	}
	if err := k.check(ctx, op, key); err != nil {
		return err
	}
	defer k.db.leave()
	err := k.db.update(func(txn *badger.Txn) error {
		return txn.Set(k.key(key), value)
	})
	return translate(op, "", err)
}

func (k *kv) Delete(ctx context.Context, key []byte) error {
	const op = "kv delete"
	if err := k.check(ctx, op, key); err != nil {
		return err
	}
	defer k.db.leave()
	err := k.db.update(func(txn *badger.Txn) error {
		return txn.Delete(k.key(key))
	})
	return translate(op, "", err)
}

// Scan calls fn for each key with the prefix, in key order, until fn
// returns an error, which Scan returns as is. fn runs inside a read
// transaction that sees the KV as it was when Scan began; it may call the
// KV (to delete what it visits, say) but must not call DB.Close.
func (k *kv) Scan(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error {
	const op = "kv scan"
	if err := k.check(ctx, op, prefix); err != nil {
		return err
	}
	defer k.db.leave()
	var fnErr error
	err := k.db.b.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: k.key(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			key := item.KeyCopy(nil)[len(k.prefix):]
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if v == nil {
				v = []byte{}
			}
			if err := fn(key, v); err != nil {
				fnErr = err
				return err
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	return translate(op, "", err)
}
