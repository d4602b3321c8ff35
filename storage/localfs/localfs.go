package localfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/cairn-storage/cairn/storage"
)

// DefaultParallel is how many files of a tree move at once. Small files
// spend much of their time in per-file steps that wait on the network
// (records, commits); 16 keep both cores busy where 8 left ~15 % idle
// (tree put 87 → 103 MB/s). The daemon's memory does not grow with it:
// chunks in flight are bounded per client (storage/blob).
const DefaultParallel = 16

// Entry is a remote file or folder as the drive reports it.
type Entry struct {
	Path  string // clean absolute drive path
	Size  int64  // bytes; 0 for a folder
	IsDir bool
}

// Result is what a Put or Get moved. Path is the remote path stored (Put)
// or the local path written (Get); Dirs counts folders made, the top one
// included.
type Result struct {
	Path  string `json:"path"`
	Files int    `json:"files"`
	Dirs  int    `json:"dirs"`
	Bytes int64  `json:"bytes"`
}

// Options tune Put and Get. The zero value is usable.
type Options struct {
	// Progress counts bytes moved: SetTotal once the size is known, Add
	// from up to Parallel goroutines at once. nil: not counted.
	Progress storage.Progress
	// Warn receives one line for each local entry Put skips, such as
	// "skipping named pipe /home/a/fifo", on the goroutine that called
	// Put, before any file is sent. nil: dropped.
	Warn func(string)
	// Parallel is how many files move at once; 0 means DefaultParallel.
	Parallel int
}

func (o Options) progress() storage.Progress {
	if o.Progress == nil {
		return storage.NoProgress{}
	}
	return o.Progress
}

func (o Options) warn(msg string) {
	if o.Warn != nil {
		o.Warn(msg)
	}
}

func (o Options) parallel() int {
	if o.Parallel > 0 {
		return o.Parallel
	}
	return DefaultParallel
}

// hinted is an error with advice for the user.
type hinted struct {
	error
	hint string
}

func (h hinted) Unwrap() error { return h.error }

func withHint(err error, hint string) error { return hinted{err, hint} }

// Hint returns the advice attached to an error of this package (what to do
// about a refused local file or remote name), or "" if it has none.
func Hint(err error) string {
	var h hinted
	if errors.As(err, &h) {
		return h.hint
	}
	return ""
}

// inParallel calls fn for every item, n at a time, and stops at the first
// error, which it returns prefixed with the item's name.
func inParallel[T any](parent context.Context, n int, items []T, name func(T) string, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	work := make(chan T)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if err := fn(ctx, it); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%s: %w", name(it), err)
						cancel()
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if first == nil && parent.Err() != nil {
		// Cancelled between items: some were never sent, so it failed.
		return storage.E("transfer", storage.Canceled, parent.Err())
	}
	return first
}

// showPath returns p as it can be printed on a terminal: quoted if it holds
// anything unprintable.
func showPath(p string) string {
	if strings.IndexFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(p)
	}
	return p
}

// Counting returns a writer that writes to w and counts the bytes written
// into p: what Get counts, for a remote file the caller streams itself
// (to stdout, say).
func Counting(w io.Writer, p storage.Progress) io.Writer { return counter{w, p} }

// counter counts the bytes written through it into a Progress.
type counter struct {
	w io.Writer
	p storage.Progress
}

func (c counter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.p.Add(int64(n))
	return n, err
}
