package drive

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"sort"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

const idLen = 16 // hex digits of an upload id

func (d *Drive) journalPrefix() []byte {
	return append([]byte(prefixJournal), d.tag[:]...)
}

// entryPrefix is the prefix of every record of journal entry id.
func (d *Drive) entryPrefix(id string) []byte {
	return append(append(d.journalPrefix(), id...), '/')
}

func (d *Drive) headerKey(id string) []byte {
	return append(d.entryPrefix(id), 'h')
}

func (d *Drive) chunkKey(id string, i int) []byte {
	k := append(d.entryPrefix(id), "c/"...)
	return binary.BigEndian.AppendUint64(k, uint64(i))
}

// newUpload returns a fresh upload id, claimed.
func (d *Drive) newUpload() (string, error) {
	var b [idLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", storage.E("new upload", storage.IO, err)
	}
	id := hex.EncodeToString(b[:])
	d.claim(id)
	return id, nil
}

// claim marks upload id as running; false if it already is.
func (d *Drive) claim(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running[id] {
		return false
	}
	d.running[id] = true
	return true
}

func (d *Drive) release(id string) {
	d.mu.Lock()
	delete(d.running, id)
	d.mu.Unlock()
}

func (d *Drive) isRunning(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running[id]
}

// upload is one journal entry as read back.
type upload struct {
	id     string
	hdr    *journal // nil if missing or unreadable
	chunks []blob.Chunk
	bytes  int64
	bad    int // unreadable chunk records
}

// scan reads the whole journal of this user, in id order.
func (d *Drive) scan(ctx context.Context) ([]*upload, error) {
	return d.scanFrom(ctx, d.journalPrefix())
}

// scanOne reads journal entry id: nil if it has no records.
func (d *Drive) scanOne(ctx context.Context, id string) (*upload, error) {
	us, err := d.scanFrom(ctx, d.entryPrefix(id))
	if err != nil || len(us) == 0 {
		return nil, err
	}
	return us[0], nil
}

// leftovers returns the journal entries of path p that a crash left
// behind, for a Put of p to adopt. The journal is scanned once, at the
// first call: a Put always deletes its own entry, so within one process
// entries are only ever left by earlier ones (Resume keeps some of those,
// and they were in that first scan). A Put used to scan the whole journal
// (with every tombstone of the entries just deleted) each time: 7 % of the
// daemon's CPU in a 2,000-file tree put.
func (d *Drive) leftovers(ctx context.Context, p string) ([]*upload, error) {
	d.leftMu.Lock()
	defer d.leftMu.Unlock()
	if d.left == nil {
		us, err := d.scan(ctx)
		if err != nil {
			return nil, err
		}
		d.left = map[string][]string{}
		for _, u := range us {
			if u.hdr != nil {
				d.left[u.hdr.path] = append(d.left[u.hdr.path], u.id)
			}
		}
	}
	var out []*upload
	var keep []string
	for _, id := range d.left[p] {
		u, err := d.scanOne(ctx, id)
		if err != nil {
			return nil, err
		}
		if u == nil || u.hdr == nil {
			continue // finished, dropped or being dropped
		}
		keep = append(keep, id)
		out = append(out, u)
	}
	if len(keep) == 0 {
		delete(d.left, p)
	} else {
		d.left[p] = keep
	}
	return out, nil
}

// scanFrom reads the journal entries under prefix, in id order.
func (d *Drive) scanFrom(ctx context.Context, prefix []byte) ([]*upload, error) {
	byID := map[string]*upload{}
	var order []string
	base := d.journalPrefix()
	err := d.kv.Scan(ctx, prefix, func(k, v []byte) error {
		rest := k[len(base):]
		if len(rest) < idLen+2 {
			return nil // not ours
		}
		id, kind := string(rest[:idLen]), string(rest[idLen:])
		u := byID[id]
		if u == nil {
			u = &upload{id: id}
			byID[id] = u
			order = append(order, id)
		}
		switch {
		case kind == "/h":
			plain, err := open(d.key, k, v)
			if err != nil {
				return nil
			}
			if j, err := decodeJournal(plain); err == nil {
				u.hdr = &j
			}
		case len(kind) == 3+8 && kind[:3] == "/c/":
			plain, err := open(d.key, k, v)
			if err != nil {
				u.bad++
				return nil
			}
			c, err := decodeChunk(plain)
			if err != nil {
				u.bad++
				return nil
			}
			u.chunks = append(u.chunks, c)
			u.bytes += int64(c.Size)
		}
		return nil
	})
	if err != nil {
		return nil, storage.E("read journal", storage.Other, err)
	}
	out := make([]*upload, len(order))
	for i, id := range order {
		out[i] = byID[id]
	}
	return out, nil
}

// exists reports whether the header of upload id is (still) there. A Put
// releases its id only after deleting its entry, so an entry that is not
// running and still exists is a crash leftover.
func (d *Drive) exists(ctx context.Context, id string) bool {
	_, err := d.kv.Get(ctx, d.headerKey(id))
	return err == nil
}

// dropJournal deletes the journal entry id: the header first, so that a
// crash in between leaves only chunk records without a header, which
// Resume clears.
func (d *Drive) dropJournal(ctx context.Context, id string) error {
	if err := d.kv.Delete(ctx, d.headerKey(id)); err != nil {
		return err
	}
	prefix := d.entryPrefix(id)
	var keys [][]byte
	if err := d.kv.Scan(ctx, prefix, func(k, _ []byte) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := d.kv.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// Upload is one journaled upload.
type Upload struct {
	ID      string
	Path    string    // where the file goes
	Source  string    // local file the bytes come from; "" if none
	Chunks  int       // chunks placed so far
	Bytes   int64     // their plaintext bytes
	Started time.Time // when the upload began
	Running bool      // a Put or Resume is working on it now
}

// Pending lists the journaled uploads, oldest first: those running now
// and those a crash left behind. Entries whose header cannot be read are
// left out (Resume drops them).
func (d *Drive) Pending(ctx context.Context) ([]Upload, error) {
	us, err := d.scan(ctx)
	if err != nil {
		return nil, err
	}
	var out []Upload
	for _, u := range us {
		if u.hdr == nil {
			continue
		}
		running := d.isRunning(u.id)
		if !running && !d.exists(ctx, u.id) {
			continue // finished between the scan and now
		}
		out = append(out, Upload{
			ID: u.id, Path: u.hdr.path, Source: u.hdr.source,
			Chunks: len(u.chunks), Bytes: u.bytes, Started: u.hdr.started,
			Running: running,
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

// Resume finishes the journaled uploads that are not running. An upload
// whose Source still has the size and mtime it had when the upload began
// is run again from that file, reusing the chunks the journal recorded (so
// only the rest is sent), and committed with its original mtime. Uploads
// without a source, whose source is gone or changed, or whose journal
// entry cannot be read are dropped. One that was committed just before the
// crash is only cleared from the journal (and counted as resumed).
//
// An upload that fails with storage.Unavailable or storage.Canceled stays
// in the journal for a later Resume and its error is returned (joined with
// the others) after the rest were tried; one that fails otherwise is
// dropped. logf (nil: no logging) receives one line per upload.
func (d *Drive) Resume(ctx context.Context, logf func(string, ...any)) (resumed, dropped int, err error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	us, err := d.scan(ctx)
	if err != nil {
		return 0, 0, err
	}
	var errs []error
	for _, u := range us {
		if !d.claim(u.id) {
			continue
		}
		if u.hdr != nil && !d.exists(ctx, u.id) {
			d.release(u.id) // a Put finished it since the scan
			continue
		}
		res, err := d.resume(ctx, u, logf)
		d.release(u.id)
		switch res {
		case resumeDone:
			resumed++
		case resumeDropped:
			dropped++
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return resumed, dropped, errors.Join(errs...)
}

type resumeResult int

const (
	resumeNone resumeResult = iota
	resumeDone
	resumeDropped
)

func (d *Drive) resume(ctx context.Context, u *upload, logf func(string, ...any)) (resumeResult, error) {
	drop := func(why string) (resumeResult, error) {
		if err := d.dropJournal(ctx, u.id); err != nil {
			return resumeNone, err
		}
		if u.hdr == nil {
			logf("upload %s: dropped: %s", u.id, why)
		} else {
			logf("upload %s of %s: dropped: %s", u.id, u.hdr.path, why)
		}
		return resumeDropped, nil
	}
	j := u.hdr
	if j == nil {
		if len(u.chunks) == 0 && u.bad == 0 {
			// Chunk records left by an interrupted drop: just clear them.
			return resumeNone, d.dropJournal(ctx, u.id)
		}
		return drop("journal entry unreadable")
	}
	if j.source == "" {
		return drop("no source file to resume from")
	}
	// Committed just before the crash?
	if e, err := d.Stat(ctx, j.path); err == nil && !e.IsDir && e.Mtime.Equal(j.mtime) && e.Size == j.srcSize {
		if err := d.dropJournal(ctx, u.id); err != nil {
			return resumeNone, err
		}
		logf("upload %s of %s: was already committed", u.id, j.path)
		return resumeDone, nil
	}
	fi, err := os.Stat(j.source)
	if err != nil {
		return drop("source " + j.source + " is gone")
	}
	if fi.Size() != j.srcSize || !clampTime(fi.ModTime()).Equal(j.srcMtime) {
		return drop("source " + j.source + " changed since")
	}
	f, err := os.Open(j.source)
	if err != nil {
		return drop("source " + j.source + " cannot be opened")
	}
	defer f.Close()
	reuse, err := d.reuseExisting(ctx, j.path)
	if err != nil {
		if errors.Is(err, storage.IsDir) || errors.Is(err, storage.NotDir) || errors.Is(err, storage.Invalid) {
			return drop(err.Error())
		}
		return resumeNone, err
	}
	for _, c := range u.chunks {
		reuse[c.ID] = c
	}
	logf("upload %s of %s: resuming with %d chunks (%d bytes) already placed", u.id, j.path, len(u.chunks), u.bytes)
	if _, err := d.upload(ctx, u.id, *j, f, reuse, nil, j.srcSize); err != nil {
		if errors.Is(err, storage.Unavailable) || errors.Is(err, storage.Canceled) {
			logf("upload %s of %s: kept for later: %v", u.id, j.path, err)
			return resumeNone, err
		}
		return drop(err.Error())
	}
	if err := d.dropJournal(ctx, u.id); err != nil {
		return resumeDone, err
	}
	logf("upload %s of %s: resumed and committed", u.id, j.path)
	return resumeDone, nil
}
