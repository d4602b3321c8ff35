package blob

import (
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/chunker"
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

type job struct {
	plain []byte
	done  chan result // receives exactly one result
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
// chunks in flight.
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
	ch, err := chunker.New(src, c.cfg.Chunking)
	if err != nil {
		return nil, storage.E("put", storage.Invalid, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job)
	pending := make(chan chan result, c.cfg.Workers)
	readErr := make(chan error, 1)

	// The reader: cuts chunks, copies each out of the chunker's buffer and
	// queues it, in order, for the workers. pending bounds how far it runs
	// ahead of the collector.
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
			j := job{plain: append([]byte(nil), data...), done: make(chan result, 1)}
			select {
			case pending <- j.done:
			case <-ctx.Done():
				readErr <- nil
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				readErr <- nil
				return
			}
		}
	}()
	for w := 0; w < c.cfg.Workers; w++ {
		go func() {
			for {
				select {
				case j := <-jobs:
					ck, err := c.putChunk(ctx, j.plain, o.Reuse)
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
	if err := <-readErr; err != nil && firstErr == nil {
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

// putChunk seals, encodes and places one chunk.
func (c *Client) putChunk(ctx context.Context, plain []byte, reuse func([32]byte) (Chunk, bool)) (Chunk, error) {
	id, key := c.cfg.Secret.Derive(plain)
	if reuse != nil {
		if ck, ok := reuse(id); ok && ck.Size == len(plain) && ck.Key == key {
			return ck, nil
		}
	}
	sealed := cryptree.SealChunk(make([]byte, 0, len(plain)+cryptree.ChunkOverhead), key, plain)
	code, err := c.code(c.cfg.K, c.cfg.M+c.cfg.Extra)
	if err != nil {
		return Chunk{}, storage.E("put chunk", storage.Invalid, err)
	}
	frags, err := code.Encode(sealed)
	if err != nil {
		return Chunk{}, storage.E("put chunk", storage.Invalid, err)
	}
	refs := make([]storage.Ref, len(frags))
	for i, f := range frags {
		refs[i] = erasure.Root(f)
	}
	landed, err := c.placer.place(ctx, id, frags, refs, c.cfg.K+c.cfg.M)
	if err != nil {
		return Chunk{}, err
	}
	return Chunk{
		ID: id, Key: key, Size: len(plain), SealedLen: len(sealed),
		K: c.cfg.K, N: code.N(), Frags: landed,
	}, nil
}
