package storetest

import (
	"context"
	"errors"
	"math/rand/v2"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
)

// Corrupter is implemented by stores that let a test alter held bytes
// without verification: Corrupt replaces the bytes held under ref with
// f(a copy of them) and returns a storage.NotExist error if ref is not
// held. The suite's corruption tests run only for stores that implement it.
type Corrupter interface {
	Corrupt(ref storage.Ref, f func([]byte) []byte) error
}

// Fragment returns n pseudo-random bytes derived from seed and their ref,
// erasure.Root of the bytes. The same seed and n give the same fragment.
func Fragment(seed uint64, n int) (storage.Ref, []byte) {
	rng := rand.NewChaCha8(seedBytes(seed))
	b := make([]byte, n)
	_, _ = rng.Read(b)
	return erasure.Root(b), b
}

func seedBytes(seed uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	s[31] = 0xc4 // domain: storetest fragments
	return s
}

var errStop = errors.New("storetest: stop")

func background() context.Context { return context.Background() }

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
