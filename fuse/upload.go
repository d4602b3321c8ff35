package fuse

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/drive"
)

// The write-back queue: a file with changes is queued once however often
// it changes (an upload takes its latest content); a few uploaders take
// files from the queue and upload a snapshot of each with Drive.Put; a
// failure the network may cure is retried with backoff, for as long as
// it takes (write-behind); a change during an upload queues the file
// again.

// enqueue queues ino's upload unless it is queued. ino.mu is held.
func (f *FS) enqueue(ino *inode) {
	w := ino.w
	if w == nil || w.queued || !w.dirty() || ino.deleted.Load() || f.d == nil {
		return
	}
	w.queued = true
	f.mu.Lock()
	f.queue = append(f.queue, ino)
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// requeue ends a stop and queues ino again if it still has changes to
// upload and no handle is open (an open file is queued when flushed or
// closed).
func (f *FS) requeue(ino *inode) {
	ino.mu.Lock()
	defer ino.mu.Unlock()
	ino.hold--
	if ino.w != nil && !ino.w.queued && ino.opens == 0 {
		f.enqueue(ino)
	}
}

func (f *FS) requeueAll(inos []*inode) {
	for _, ino := range inos {
		f.requeue(ino)
	}
}

// stop cancels ino's upload in flight, if any, waits for it to end (as
// ctx allows) and keeps others from starting until requeue (which the
// caller calls when done, unless ino is deleted).
func (f *FS) stop(ctx context.Context, ino *inode) error {
	ino.mu.Lock()
	ino.hold++
	up := ino.up
	if up != nil {
		up.canceled = true
		up.cancel()
	}
	ino.mu.Unlock()
	if up == nil {
		return nil
	}
	select {
	case <-up.done:
		return nil
	case <-ctx.Done():
		return storage.E("wait for an upload to stop", storage.Canceled, ctx.Err())
	}
}

// uploader runs uploads from the queue until the FS ends.
func (f *FS) uploader() {
	defer f.wg.Done()
	for {
		f.mu.Lock()
		var ino *inode
		if len(f.queue) > 0 {
			ino = f.queue[0]
			f.queue = f.queue[1:]
		}
		more := len(f.queue) > 0
		f.mu.Unlock()
		if ino == nil {
			select {
			case <-f.kick:
				continue
			case <-f.ctx.Done():
				return
			}
		}
		if more { // another uploader may take the next one
			select {
			case f.kick <- struct{}{}:
			default:
			}
		}
		f.upload(ino)
		if f.ctx.Err() != nil {
			return
		}
	}
}

// upload uploads a snapshot of ino's local content to its path.
func (f *FS) upload(ino *inode) {
	ino.mu.Lock()
	w := ino.w
	if w == nil || !w.queued {
		ino.mu.Unlock()
		return
	}
	w.queued = false
	// One upload of a file at a time: the one in flight queues it again
	// when it ends if it changed meanwhile.
	if !w.dirty() || ino.deleted.Load() || ino.hold > 0 || ino.up != nil {
		ino.mu.Unlock()
		return
	}
	p := f.pathOf(ino)
	gen, mtime, size := w.gen, w.mtime, w.size
	snap, err := f.snapshot(w)
	if err != nil {
		f.logf("fuse: upload %s: snapshot: %v", p, err)
		f.retryLater(ino, w, err)
		ino.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(f.ctx)
	up := &upload{cancel: cancel, done: make(chan struct{})}
	ino.up = up
	ino.mu.Unlock()

	e, err := f.d.Put(ctx, p, io.NewSectionReader(snap, 0, size), drive.PutOptions{Source: snap.Name(), Mtime: mtime})
	if err == nil && e.Size != size {
		// A Put cancelled midway can commit what it had read so far
		// (storage/blob, 2026-12): never take that for the upload.
		err = storage.Ef("put", storage.Other, p, fmt.Errorf("committed %d bytes of %d", e.Size, size))
	}
	cancel()
	snap.Close()
	os.Remove(snap.Name())
	f.free(size)

	ino.mu.Lock()
	defer ino.mu.Unlock()
	ino.up = nil
	close(up.done)
	switch {
	case err == nil:
		ino.version++
		f.stale(ino)
		if ino.w == w {
			w.done = max(w.done, gen)
			w.failures = 0
			if w.dirty() {
				f.enqueue(ino) // changed while uploading
			} else {
				f.mu.Lock()
				delete(f.dirty, ino)
				f.mu.Unlock()
			}
		}
	case up.canceled || f.ctx.Err() != nil:
		// Stopped by a rename or unlink (which queue it again) or the end.
	case retryable(err):
		f.logf("fuse: upload %s: %v", p, err)
		f.retryLater(ino, w, err)
	default:
		f.logf("fuse: upload %s: %v: given up; the local copy stays until the file is closed", p, err)
		w.lost = true
		f.mu.Lock()
		delete(f.dirty, ino)
		f.mu.Unlock()
	}
	f.settle(ino)
	f.mu.Lock()
	f.broadcastLocked()
	f.mu.Unlock()
}

// retryable reports whether a failed upload may work later: the network,
// the disk, a timeout; not a path the drive refuses.
func retryable(err error) bool {
	switch storage.KindOf(err) {
	case storage.Invalid, storage.Permission, storage.IsDir, storage.NotDir, storage.CannotDecrypt:
		return false
	}
	return true
}

// retryLater queues ino again after a pause that doubles with each
// failure in a row. ino.mu is held.
func (f *FS) retryLater(ino *inode, w *cache, err error) {
	w.failures++
	d := f.o.Retry
	for i := 1; i < w.failures && d < f.o.MaxRetry; i++ {
		d *= 2
	}
	d = min(d, f.o.MaxRetry)
	w.queued = true // not queued again by a flush meanwhile
	time.AfterFunc(d, func() {
		ino.mu.Lock()
		defer ino.mu.Unlock()
		if ino.w != w || f.ctx.Err() != nil {
			return
		}
		w.queued = false
		f.enqueue(ino)
	})
}

// snapshot copies w to a file of its own for an upload, so that writes
// can go on meanwhile. ino.mu is held.
func (f *FS) snapshot(w *cache) (*os.File, error) {
	f.mu.Lock()
	f.used += w.size // may pass CacheMax by one file
	f.mu.Unlock()
	name := filepath.Join(f.o.CacheDir, fmt.Sprintf("u%d-%d", os.Getpid(), f.seq.Add(1)))
	s, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = io.Copy(s, io.NewSectionReader(w.file, 0, w.size))
		if err != nil {
			s.Close()
			os.Remove(name)
		}
	}
	if err != nil {
		f.free(w.size)
		return nil, storage.E("cache", storage.IO, err)
	}
	return s, nil
}
