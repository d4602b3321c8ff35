package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
)

// Reader reads the file a Manifest describes. ReadAt fetches only the
// chunks a read covers and keeps the last few decoded chunks, so small
// sequential reads (a FUSE drive streaming a video) cost one fetch per
// chunk; WriteTo streams the whole file with Workers chunks fetched ahead.
//
// ReadAt and WriteTo are safe for concurrent use; Read and Seek share an
// offset and are not.
type Reader struct {
	c   *Client
	m   *Manifest
	ctx context.Context
	off int64 // for Read and Seek

	mu    sync.Mutex
	cache []cached // most recent last
}

type cached struct {
	index int
	plain []byte
}

const cacheChunks = 4

// Open returns a Reader for m. ctx bounds every fetch the Reader makes.
func (c *Client) Open(ctx context.Context, m *Manifest) *Reader {
	m.index()
	return &Reader{c: c, m: m, ctx: ctx}
}

// Size returns the length of the file.
func (r *Reader) Size() int64 { return r.m.Size }

// chunk returns the plaintext of chunk i, from the cache or the network.
func (r *Reader) chunk(ctx context.Context, i int) ([]byte, error) {
	r.mu.Lock()
	for j := len(r.cache) - 1; j >= 0; j-- {
		if r.cache[j].index == i {
			p := r.cache[j].plain
			r.mu.Unlock()
			return p, nil
		}
	}
	r.mu.Unlock()
	p, err := r.c.getChunk(ctx, &r.m.Chunks[i])
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if len(r.cache) == cacheChunks {
		copy(r.cache, r.cache[1:])
		r.cache = r.cache[:cacheChunks-1]
	}
	r.cache = append(r.cache, cached{i, p})
	r.mu.Unlock()
	return p, nil
}

// getChunk fetches, verifies, decodes and opens one chunk into a buffer
// of its own (the Reader's cache keeps it).
func (c *Client) getChunk(ctx context.Context, ck *Chunk) ([]byte, error) {
	plain, _, err := c.getChunkTo(ctx, ck, false)
	return plain, err
}

// getChunkTo fetches, verifies, decodes and opens one chunk. The
// fragments are read into recycled buffers, given back once decoded; the
// chunk is decoded into one buffer and decrypted in place there. With
// pooled that buffer is recycled too: plain aliases *buf, and the caller
// gives it back with bufs.put(buf) once done with plain (WriteTo, once
// written). Without, buf is nil and plain is the caller's to keep.
func (c *Client) getChunkTo(ctx context.Context, ck *Chunk, pooled bool) (plain []byte, buf *[]byte, err error) {
	frags, release, err := c.placer.fetchTo(ctx, ck, c.cfg.FetchExtra, true)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	code, err := c.code(ck.K, ck.N-ck.K)
	if err != nil {
		return nil, nil, storage.E("get chunk", storage.Corrupt, err)
	}
	var dst []byte
	if fs := erasure.FragmentSize(ck.K, ck.SealedLen); fs > 0 {
		n := ck.K * (fs - erasure.HeaderSize)
		if pooled {
			buf = bufs.get(n)
			dst = *buf
		} else {
			dst = make([]byte, 0, n)
		}
	}
	fail := func(e error) ([]byte, *[]byte, error) {
		if buf != nil {
			bufs.put(buf)
		}
		return nil, nil, e
	}
	// fetch verified every fragment against the manifest's refs; Decode
	// still checks each header.
	sealed, err := code.DecodeTo(dst, frags, nil)
	if err != nil {
		return fail(storage.E("get chunk", storage.Unavailable, err))
	}
	if len(sealed) != ck.SealedLen {
		return fail(storage.E("get chunk", storage.Corrupt, fmt.Errorf("sealed length %d, manifest says %d", len(sealed), ck.SealedLen)))
	}
	// In place: the plaintext overwrites the ciphertext it came from.
	if len(sealed) > 0 {
		plain, err = cryptree.OpenChunk(sealed[1:1], ck.Key, sealed)
	} else {
		plain, err = cryptree.OpenChunk(nil, ck.Key, sealed)
	}
	if err != nil {
		return fail(storage.E("get chunk", storage.CannotDecrypt, err))
	}
	if len(plain) != ck.Size {
		return fail(storage.E("get chunk", storage.Corrupt, fmt.Errorf("chunk length %d, manifest says %d", len(plain), ck.Size)))
	}
	return plain, buf, nil
}

// bufs recycles the read path's buffers (fragments, sealed chunks) by
// power-of-two classes from 64 KiB to 16 MiB: a buffer in class i has a
// capacity of at least 1<<(i+bufMinShift). Smaller and larger ones are
// allocated as needed and dropped when given back. Allocating them fresh
// cost the daemon ~10 % of its CPU during a get in zeroing alone, and as
// much again in garbage collection.
var bufs readPool

type readPool struct {
	classes [bufMaxShift - bufMinShift + 1]sync.Pool
}

const (
	bufMinShift = 16
	bufMaxShift = 24
)

// get returns a buffer of length n, its contents unspecified.
func (p *readPool) get(n int) *[]byte {
	if n < 1<<bufMinShift || n > 1<<bufMaxShift {
		b := make([]byte, n)
		return &b
	}
	i := bits.Len(uint(n-1)) - bufMinShift // smallest class that fits n
	if b, ok := p.classes[i].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(i+bufMinShift))
	return &b
}

// put gives b back; it must not be used afterwards.
func (p *readPool) put(b *[]byte) {
	c := cap(*b)
	if c < 1<<bufMinShift || c > 1<<bufMaxShift {
		return
	}
	i := bits.Len(uint(c)) - 1 - bufMinShift // largest class c covers
	p.classes[i].Put(b)
}

// ReadAt reads len(p) bytes at off, fetching the chunks that cover them.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, storage.E("read", storage.Invalid, errors.New("negative offset"))
	}
	if off >= r.m.Size {
		if len(p) == 0 && off == r.m.Size {
			return 0, nil
		}
		return 0, io.EOF
	}
	if r.m.Inline != nil || len(r.m.Chunks) == 0 {
		n := copy(p, r.m.Inline[off:])
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	n := 0
	for n < len(p) && off < r.m.Size {
		i := r.m.chunkAt(off)
		plain, err := r.chunk(r.ctx, i)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], plain[off-r.m.offsets[i]:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read reads from the current offset.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek sets the offset for the next Read.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.m.Size
	default:
		return r.off, storage.E("seek", storage.Invalid, errors.New("bad whence"))
	}
	if offset < 0 {
		return r.off, storage.E("seek", storage.Invalid, errors.New("negative offset"))
	}
	r.off = offset
	return offset, nil
}

// written is a chunk fetched ahead for WriteTo: its plaintext in a
// recycled buffer.
type written struct {
	plain []byte
	buf   *[]byte
	err   error
}

// WriteTo writes the file from the current offset to w, fetching up to
// Workers chunks ahead of the one being written.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	if r.off >= r.m.Size {
		return 0, nil
	}
	if r.m.Inline != nil || len(r.m.Chunks) == 0 {
		n, err := w.Write(r.m.Inline[r.off:])
		r.off += int64(n)
		return int64(n), err
	}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	first := r.m.chunkAt(r.off)
	ahead := make(chan chan written, r.c.cfg.Workers)
	go func() {
		defer close(ahead)
		for i := first; i < len(r.m.Chunks); i++ {
			done := make(chan written, 1)
			select {
			case ahead <- done:
			case <-ctx.Done():
				return
			}
			go func(i int) {
				p, buf, err := r.c.getChunkTo(ctx, &r.m.Chunks[i], true)
				done <- written{plain: p, buf: buf, err: err}
			}(i)
		}
	}()
	// Chunks fetched ahead but not written (an error, a failed write)
	// are dropped to the garbage collector, not recycled: the fetch of
	// one may still be running.
	var total int64
	i := first
	for done := range ahead {
		res := <-done
		if res.err != nil {
			return total, res.err
		}
		skip := r.off - r.m.offsets[i]
		n, err := w.Write(res.plain[skip:])
		if res.buf != nil {
			// Writers must not retain what they are given (io.Writer).
			bufs.put(res.buf)
		}
		total += int64(n)
		r.off += int64(n)
		if err != nil {
			return total, err
		}
		i++
	}
	return total, nil
}
