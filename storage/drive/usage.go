package drive

import (
	"context"
	"sync"
)

// Usage is what a drive's files take: how many there are, their logical
// size, and the bytes they take on the network after redundancy.
type Usage struct {
	Files  int
	Size   int64
	Stored int64
}

// Usage returns the number of files, their logical size and what they
// take on the network after redundancy (sum of Manifest.StoredBytes). It
// reads every manifest.
func (d *Drive) Usage(ctx context.Context) (files int, size, stored int64, err error) {
	err = d.Walk(ctx, "/", func(e Entry) error {
		if e.IsDir {
			return nil
		}
		files++
		size += e.Size
		if e.Manifest != nil {
			stored += e.Manifest.StoredBytes()
		}
		return nil
	})
	return files, size, stored, err
}

// UsageOrLast reads the usage (Usage, bounded by ctx) and remembers it.
// When the drive cannot be read just now (not open yet, its peers away,
// ctx done), it returns the last usage read, or zeros if none was, and
// fresh false: a status page keeps answering while the node finds its
// peers. Safe for concurrent use.
func (d *Drive) UsageOrLast(ctx context.Context) (u Usage, fresh bool) {
	var files int
	var size, stored int64
	err := ErrNotOpen
	if d.opened() != nil { // never wait for the drive to open: status must answer
		files, size, stored, err = d.Usage(ctx)
	}
	d.usage.mu.Lock()
	defer d.usage.mu.Unlock()
	if err != nil {
		return d.usage.u, false
	}
	d.usage.u = Usage{Files: files, Size: size, Stored: stored}
	return d.usage.u, true
}

// lastUsage is the usage UsageOrLast read last.
type lastUsage struct {
	mu sync.Mutex
	u  Usage
}
