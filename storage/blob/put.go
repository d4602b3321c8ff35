package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
)

// PutOptions are the per-upload hooks of Put. All are optional.
type PutOptions struct {
	// Progress counts plaintext bytes as their chunks land.
	Progress storage.Progress
	// Reuse returns a chunk that is already placed, by chunk id: a chunk
	// of an earlier version of the file, or of this same upload before an
	// interruption (the upload journal). A reused chunk is not uploaded.
	Reuse func(id [32]byte) (Chunk, bool)
	// Landed is called for every chunk once it is placed, in file order,
	// from Put's goroutine: the upload journal records it here.
	Landed func(index int, c Chunk) error
}

// job is one chunk on its way: sealed by the reader goroutine (or found
// already placed), then encoded and placed by a worker.
type job struct {
	reused bool
	chunk  Chunk       // ID, Key, Size, SealedLen; the whole chunk if reused
	sealed *[]byte     // from bufPool; nil if reused
	done   chan result // receives exactly one result
}

type result struct {
	chunk Chunk
	plain []byte // reads only
	err   error
}

// Put streams r through the data path and returns the manifest of what it
// read. It returns when every chunk has K+M fragments on distinct peers,
// or with an error (Unavailable when too few peers took the fragments);
// then nothing is referenced by a manifest, though fragments already sent
// stay on their peers until collected. Memory is bounded by Workers
// chunks in flight per Put, and by 2×Workers+2 across all the Puts of
// the client at once.
func (c *Client) Put(ctx context.Context, r io.Reader, o PutOptions) (*Manifest, error) {
	if o.Progress == nil {
		o.Progress = storage.NoProgress{}
	}
	// Tiny files live in the manifest.
	head := make([]byte, c.cfg.InlineMax+1)
	n, err := io.ReadFull(r, head)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		o.Progress.SetTotal(int64(n))
		o.Progress.Add(int64(n))
		return &Manifest{Size: int64(n), Inline: head[:n:n]}, nil
	case err != nil:
		return nil, storage.E("put: read", storage.IO, err)
	}
	src := io.MultiReader(bytes.NewReader(head), r)
	ch, err := c.table.New(src, c.cfg.Chunking)
	if err != nil {
		return nil, storage.E("put", storage.Invalid, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job)
	pending := make(chan chan result, c.cfg.Workers)
	readErr := make(chan error, 1)

	// The reader: cuts chunks (keyed boundaries), derives each one's id and
	// key and seals it, padded, from the chunker's buffer into a pooled
	// buffer (the one copy of the plaintext), and queues it, in order, for the workers. pending bounds
	// how far it runs ahead of the collector.
	go func() {
		defer close(pending)
		for {
			data, err := ch.Next()
			if err == io.EOF {
				readErr <- nil
				return
			}
			if err != nil {
				readErr <- err
				return
			}
			j := job{done: make(chan result, 1)}
			id, key := c.cfg.Secret.Derive(data)
			j.chunk = Chunk{ID: id, Key: key, Size: len(data), SealedLen: cryptree.PaddedChunkSize(len(data))}
			if o.Reuse != nil {
				if ck, ok := o.Reuse(id); ok && ck.Size == len(data) && ck.Key == key {
					j.reused, j.chunk = true, ck
				}
			}
			if !j.reused {
				// A slot of the client's, shared by every Put: many
				// files at once (a tree) hold no more chunks in memory
				// than a few big ones.
				select {
				case c.slots <- struct{}{}:
				case <-ctx.Done():
					readErr <- ctx.Err()
					return
				}
				j.sealed = getBuf(j.chunk.SealedLen)
				*j.sealed = cryptree.SealChunkPadded((*j.sealed)[:0], key, data)
			}
			drop := func() {
				if !j.reused {
					putBuf(j.sealed)
					<-c.slots
				}
			}
			select {
			case pending <- j.done:
			case <-ctx.Done():
				drop()
				readErr <- ctx.Err()
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				drop()
				readErr <- ctx.Err()
				return
			}
		}
	}()
	for w := 0; w < c.cfg.Workers; w++ {
		go func() {
			for {
				select {
				case j := <-jobs:
					if j.reused {
						j.done <- result{chunk: j.chunk}
						continue
					}
					ck, err := c.placeChunk(ctx, j.chunk, j.sealed)
					<-c.slots
					j.done <- result{chunk: ck, err: err}
				case <-ctx.Done():
					return
				}
			}
		}()
	}

	m := &Manifest{}
	var firstErr error
	for done := range pending {
		var res result
		select {
		case res = <-done:
		case <-ctx.Done():
			res.err = ctx.Err()
		}
		if firstErr != nil {
			continue
		}
		if res.err != nil {
			firstErr = res.err
			cancel()
			continue
		}
		if o.Landed != nil {
			if err := o.Landed(len(m.Chunks), res.chunk); err != nil {
				firstErr = err
				cancel()
				continue
			}
		}
		m.Chunks = append(m.Chunks, res.chunk)
		m.Size += int64(res.chunk.Size)
		o.Progress.SetTotal(m.Size)
		o.Progress.Add(int64(res.chunk.Size))
	}
	switch err := <-readErr; {
	case firstErr != nil:
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// The reader stopped for the context, maybe before any chunk
		// was queued: never a success with the file cut short.
		firstErr = err
	case err != nil:
		firstErr = storage.E("put: read", storage.IO, err)
	}
	if firstErr != nil {
		if errors.Is(firstErr, context.Canceled) || errors.Is(firstErr, context.DeadlineExceeded) {
			return nil, storage.E("put", storage.Canceled, firstErr)
		}
		return nil, storage.E("put", storage.Other, firstErr)
	}
	return m, nil
}

// placeChunk encodes a sealed chunk and places its fragments. It gives
// sealed back to the pool.
func (c *Client) placeChunk(ctx context.Context, ck Chunk, sealed *[]byte) (Chunk, error) {
	code, err := c.code(c.cfg.K, c.cfg.M+c.cfg.Extra)
	if err != nil {
		putBuf(sealed)
		return Chunk{}, storage.E("put chunk", storage.Invalid, err)
	}
	fbuf := getBuf(code.EncodedSize(len(*sealed)))
	frags, err := code.EncodeTo(*fbuf, *sealed)
	putBuf(sealed)
	if err != nil {
		putBuf(fbuf)
		return Chunk{}, storage.E("put chunk", storage.Invalid, err)
	}
	refs := make([]storage.Ref, len(frags))
	for i, f := range frags {
		refs[i] = erasure.Root(f)
	}
	// The fragment buffer goes back to the pool only when every transfer
	// that reads it has returned, cancelled ones included.
	landed, err := c.placer.place(ctx, ck.ID, frags, refs, c.cfg.K+c.cfg.M, func() { putBuf(fbuf) })
	if err != nil {
		return Chunk{}, err
	}
	ck.K, ck.N, ck.Frags = c.cfg.K, code.N(), landed
	return ck, nil
}

// bufPool recycles the big buffers of the data path (sealed chunks,
// fragment sets), whose zeroing and collection otherwise cost as much as
// the Reed–Solomon code itself.
var bufPool sync.Pool

func getBuf(n int) *[]byte {
	if b, ok := bufPool.Get().(*[]byte); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n)
	return &b
}

func putBuf(b *[]byte) {
	if b != nil {
		bufPool.Put(b)
	}
}
