package drive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/memstore"
)

// BenchmarkPut compares a Drive Put (journal records, commit) with the
// bare blob.Client Put it wraps, 4 MiB of small (8 KiB) chunks: the
// journal's cost per chunk shows most here.
func BenchmarkPut(b *testing.B) {
	data := randBytes(1, 4<<20)
	for _, mode := range []string{"blob", "drive"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b)
			d := e.drive(nil)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				// Vary the data so no chunk is reused across iterations.
				data[0], data[len(data)/2] = byte(i), byte(i>>8)
				var err error
				if mode == "blob" {
					_, err = e.bc.Put(context.Background(), bytes.NewReader(data), blob.PutOptions{})
				} else {
					_, err = d.Put(context.Background(), fmt.Sprintf("/f%d", i), bytes.NewReader(data), PutOptions{})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNamespace measures Stat of a file four folders deep and List
// of a folder of 1,000 files, in a Tree over in-memory peers and records.
func BenchmarkNamespace(b *testing.B) {
	ctx := context.Background()
	ns := newTreeEnv(b).tree
	for i := 0; i < 1000; i++ {
		if _, err := ns.Commit(ctx, fmt.Sprintf("/a/b/c/d/f%04d", i), inline("some bytes"), time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Stat", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := ns.Stat(ctx, "/a/b/c/d/f0500"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("List1000", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if ls, err := ns.List(ctx, "/a/b/c/d"); err != nil || len(ls) != 1000 {
				b.Fatal(err)
			}
		}
	})
	b.Run("Commit", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := ns.Commit(ctx, "/a/b/c/d/f0001", inline("other bytes"), time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// recentRecords is a Records that answers a lookup of a folder it has
// seen with the record it holds, without verifying it again, as the
// daemon's record client does for records seen in the last
// records.TTL: in the daemon a tree's lookups mostly cost that. The
// fake beneath verifies a signature per lookup, which would otherwise
// dominate a benchmark of the drive.
type recentRecords struct {
	Records
	mu sync.Mutex
	m  map[cryptree.FolderID]*cryptree.Record
}

func (r *recentRecords) Publish(ctx context.Context, rec *cryptree.Record) error {
	if err := r.Records.Publish(ctx, rec); err != nil {
		return err
	}
	c := *rec
	c.Value = bytes.Clone(rec.Value)
	r.mu.Lock()
	r.m[rec.ID] = &c
	r.mu.Unlock()
	return nil
}

func (r *recentRecords) Lookup(ctx context.Context, id cryptree.FolderID) (*cryptree.Record, error) {
	r.mu.Lock()
	rec := r.m[id]
	r.mu.Unlock()
	if rec != nil {
		return rec, nil
	}
	return r.Records.Lookup(ctx, id)
}

// benchTree is the tree of bench/e2e-procs.sh's TREE=n as manifests: n
// files in 20 folders under /tree, each with a one-chunk manifest of 14
// fragments (what a file of up to a chunk gets; ~1 KiB, inline), every
// 12th with a manifest over InlineManifest (a file of several chunks,
// sealed as a small object).
func benchTree(n int) (paths []string, ms []*blob.Manifest) {
	for i := 0; i < n; i++ {
		paths = append(paths, fmt.Sprintf("/tree/d%d/f%d", i%20, i))
		m := &blob.Manifest{}
		chunks := 1
		if i%12 == 0 {
			chunks = 3
		}
		for c := 0; c < chunks; c++ {
			ch := blob.Chunk{Size: 100 << 10, SealedLen: 100<<10 + cryptree.ChunkOverhead, K: 10, N: 16,
				ID: [32]byte{byte(i), byte(i >> 8), byte(c)}, Key: cryptree.Key{byte(i)}}
			for f := 0; f < 14; f++ {
				ch.Frags = append(ch.Frags, blob.Frag{Index: f, Ref: storage.Ref{byte(i), byte(f)},
					Holder: storage.PeerID(fmt.Sprintf("12D3KooWPeerIdentityOfSomeStoragePeer%02d", f))})
			}
			m.Chunks = append(m.Chunks, ch)
			m.Size += int64(ch.Size)
		}
		ms = append(ms, m)
	}
	return paths, ms
}

// BenchmarkTreeBulk measures the drive's share of a tree put and get of
// 2,000 files in 20 folders over in-memory peers (no file data): Put is
// what Drive.Put does per file besides the data path (Stat for chunks to
// reuse, then Commit), 16 at once as localfs.Put; Get is a recursive
// listing (Walk) and then a Stat per file, 16 at once, as a tree get
// through the daemon does (Drive.Open stats the path from the root).
func BenchmarkTreeBulk(b *testing.B) {
	ctx := context.Background()
	const files, parallel = 2000, 16
	paths, ms := benchTree(files)
	each := func(b *testing.B, fn func(i int) error) {
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, parallel)
		for w := 0; w < parallel; w++ {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= files {
						return
					}
					if err := fn(i); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
	}
	open := func(b *testing.B) *Tree {
		e := newTreeEnv(b)
		keys, w := e.kr.RootFolder()
		t, err := NewTree(ctx, TreeConfig{Objects: e.objects, Cache: memstore.NewKV(),
			Records: &recentRecords{Records: e.recs, m: map[cryptree.FolderID]*cryptree.Record{}},
			Root:    w.ID(), RootKeys: keys, RootWriter: &w})
		if err != nil {
			b.Fatal(err)
		}
		return t
	}
	put := func(b *testing.B, t *Tree) {
		each(b, func(i int) error {
			if _, err := t.Stat(ctx, paths[i]); err != nil && !errors.Is(err, storage.NotExist) {
				return err
			}
			_, err := t.Commit(ctx, paths[i], ms[i], time.Time{})
			return err
		})
	}
	b.Run("Put", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			t := open(b)
			b.StartTimer()
			put(b, t)
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*files), "µs/file")
	})
	b.Run("Get", func(b *testing.B) {
		t := open(b)
		put(b, t)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			n := 0
			if err := t.Walk(ctx, "/tree", func(e Entry) error { n++; return nil }); err != nil || n != files+20 {
				b.Fatal(n, err)
			}
			each(b, func(i int) error {
				e, err := t.Stat(ctx, paths[i])
				if err == nil && e.Manifest.Size != ms[i].Size {
					err = fmt.Errorf("%s: size %d, want %d", paths[i], e.Manifest.Size, ms[i].Size)
				}
				return err
			})
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*files), "µs/file")
	})
}
