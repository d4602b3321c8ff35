package chunker

import (
	"errors"
	"fmt"
	"io"

	"github.com/cairn-storage/cairn/storage"
)

const (
	// firstBuf is the size of the first buffer a Chunker allocates; it
	// doubles as the stream turns out longer, up to Max + the read size.
	firstBuf = 32 << 10
	// Reads ask for at most maxRead bytes (Max if smaller, but at least
	// minRead), so that the bytes are hashed while they are still in cache.
	minRead = 4 << 10
	maxRead = 256 << 10
	// maxEmptyReads is how many (0, nil) reads in a row are tolerated
	// before Next gives up with io.ErrNoProgress.
	maxEmptyReads = 100
)

// Chunker splits the bytes of an io.Reader into content-defined chunks.
// Its boundaries are exactly those of Boundaries over the whole stream,
// whatever sizes the reader's Read calls return.
//
// Memory is bounded: the buffer grows with the stream up to Max plus the
// read size (min(Max, 256 KiB), at least 4 KiB), so at most about 2*Max
// bytes, and is reused from chunk to chunk and across Reset. Chunker reads
// r in pieces of at most the read size and hashes each piece while it is
// still in the CPU cache, so bytes are copied about once, from r into the
// buffer. A Chunker is not safe for concurrent use.
type Chunker struct {
	r          io.Reader
	c          cutter
	read       int    // most bytes asked for in one Read
	limit      int    // largest buffer size: Max + read
	buf        []byte // the stream's unconsumed bytes are buf[start:end]
	start, end int
	pos        int    // buf[start:start+pos] has been searched for a boundary
	fp         uint64 // rolling hash state at pos
	eof        bool   // r returned io.EOF
	err        error  // r failed: sticky, returned once buffered chunks run out
}

// New returns a Chunker that reads r and cuts it with params p and the
// Public table. It returns an error of Kind storage.Invalid if p is invalid
// (see Validate) or r is nil. No buffer is allocated until the first call
// to Next.
func New(r io.Reader, p Params) (*Chunker, error) { return public.New(r, p) }

// New is the package's New with t's gear values: the Chunker's boundaries
// are those of t.Boundaries. t is kept, not copied.
func (t *Table) New(r io.Reader, p Params) (*Chunker, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errNilReader()
	}
	read := min(max(p.Max, minRead), maxRead)
	return &Chunker{r: r, c: newCutter(p, t), read: read, limit: p.Max + read}, nil
}

// Reset makes c read a new stream from r with the same params, keeping its
// buffer. Slices returned by earlier calls to Next become invalid. If r is
// nil, Next returns an error of Kind storage.Invalid.
func (c *Chunker) Reset(r io.Reader) {
	c.r = r
	c.start, c.end = 0, 0
	c.pos, c.fp = 0, 0
	c.eof = false
	c.err = nil
	if r == nil {
		c.err = errNilReader()
	}
}

func errNilReader() error {
	return storage.E("chunk", storage.Invalid, errors.New("nil reader"))
}

// Next returns the next chunk of the stream.
//
// The returned slice points into the Chunker's buffer: it is valid only
// until the next call to Next or Reset, and callers that keep it must copy
// it. Its capacity equals its length, so appending to it copies.
//
// Every chunk is between Min and Max bytes long, except the last one of
// the stream, which may be shorter than Min. After the last chunk Next
// returns a nil slice and io.EOF itself (not wrapped), and keeps doing so;
// an empty stream gives io.EOF at once.
//
// If r fails, Next still returns the chunks whose boundaries the bytes read
// so far determine, then returns r's error wrapped in a *storage.Error
// (errors.Is finds the original; its Kind is the original's, or storage.IO
// if it has none), and keeps returning it. A reader that returns no bytes
// and no error 100 times in a row is treated as failing with
// io.ErrNoProgress.
func (c *Chunker) Next() ([]byte, error) {
	for {
		if c.start < c.end {
			data := c.buf[c.start:c.end]
			k, pos, fp := c.c.resume(data, c.pos, c.fp)
			if k == 0 && c.eof {
				k = len(data) // the last chunk, shorter than Max
			}
			if k > 0 {
				c.start += k
				c.pos, c.fp = 0, 0
				return data[:k:k], nil
			}
			c.pos, c.fp = pos, fp
		}
		switch {
		case c.eof:
			return nil, io.EOF
		case c.err != nil:
			return nil, c.err
		}
		c.fill()
	}
}

// fill makes room in the buffer and reads into it once, or sets c.eof or
// c.err. It is called only while fewer than Max bytes are buffered.
func (c *Chunker) fill() {
	if len(c.buf)-c.end < c.read {
		if c.start > 0 {
			c.end = copy(c.buf, c.buf[c.start:c.end])
			c.start = 0
		}
		// Fewer than Max bytes are buffered, so at the limit there is
		// room for a whole read.
		if len(c.buf)-c.end < c.read && len(c.buf) < c.limit {
			nb := make([]byte, min(max(2*len(c.buf), firstBuf), c.limit))
			c.end = copy(nb, c.buf[:c.end])
			c.buf = nb
		}
	}
	for range maxEmptyReads {
		room := min(len(c.buf)-c.end, c.read)
		n, err := c.r.Read(c.buf[c.end : c.end+room])
		if n < 0 || n > room {
			c.err = storage.E("chunk", storage.IO,
				fmt.Errorf("reader returned %d bytes for a %d-byte buffer", n, room))
			return
		}
		c.end += n
		switch {
		case err == io.EOF:
			c.eof = true
			return
		case err != nil:
			kind := storage.KindOf(err)
			if kind == storage.Other {
				kind = storage.IO
			}
			c.err = storage.E("chunk", kind, err)
			return
		case n > 0:
			return
		}
	}
	c.err = storage.E("chunk", storage.IO, io.ErrNoProgress)
}
