package drive

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

func testChunk() blob.Chunk {
	return blob.Chunk{ID: [32]byte{1}, Key: [16]byte{2}, Size: 10, SealedLen: 27, K: 2, N: 3,
		Frags: []blob.Frag{{Index: 0, Ref: storage.Ref{3}, Holder: "peer-a"}, {Index: 2, Ref: storage.Ref{4}, Holder: "peer-b"}}}
}

func FuzzDecodeEntry(f *testing.F) {
	mt := time.Unix(1700000000, 42)
	chunked, err := (&blob.Manifest{Size: 10, Chunks: []blob.Chunk{testChunk()}}).MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	inl, _ := inline("hello").MarshalBinary()
	f.Add(encodeEntry(entryRec{name: "a.txt", size: 5, mtime: mt, manifest: inl}))
	f.Add(encodeEntry(entryRec{name: "big", size: 10, mtime: mt, manifest: chunked}))
	f.Add(encodeEntry(entryRec{name: "dir", dir: true, mtime: mt, id: folderID{9}}))
	f.Add(encodeEntry(entryRec{name: "zero", dir: true}))
	f.Add([]byte(magicEntry))
	f.Add([]byte("CDE\x01\x01a\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntry(data)
		if err != nil {
			return
		}
		if checkName(e.name) != nil || (e.dir && e.size != 0) {
			t.Fatalf("decoded a bad entry %+v", e)
		}
		// What decodes re-encodes to something that decodes the same.
		e2, err := decodeEntry(encodeEntry(e))
		if err != nil || !reflect.DeepEqual(normEntry(e), normEntry(e2)) {
			t.Fatalf("re-encoding: %+v vs %+v, %v", e, e2, err)
		}
		if !e.dir {
			m, err := e.parseManifest()
			if err == nil && m.Size != e.size {
				t.Fatalf("manifest size %d, entry %d", m.Size, e.size)
			}
		}
	})
}

func normEntry(e entryRec) entryRec {
	e.mtime = e.mtime.UTC()
	if len(e.manifest) == 0 {
		e.manifest = nil
	}
	return e
}

func FuzzDecodeJournal(f *testing.F) {
	j := journal{path: "/docs/a b.txt", source: "/home/alice/a b.txt", srcSize: 12345,
		srcMtime: time.Unix(1690000000, 999_999_999), mtime: time.Unix(1700000000, 0), started: time.Unix(1700000001, 1)}
	f.Add(encodeJournal(j))
	f.Add(encodeJournal(journal{path: "/x"}))
	c, err := encodeChunk(testChunk())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c)
	f.Add([]byte(magicJournal))
	f.Fuzz(func(t *testing.T, data []byte) {
		if j, err := decodeJournal(data); err == nil {
			if c, err := Clean(j.path); err != nil || c != j.path || j.srcSize < 0 {
				t.Fatalf("decoded a bad journal %+v", j)
			}
			j2, err := decodeJournal(encodeJournal(j))
			if err != nil || j2.path != j.path || j2.source != j.source || j2.srcSize != j.srcSize ||
				!j2.srcMtime.Equal(j.srcMtime) || !j2.mtime.Equal(j.mtime) || !j2.started.Equal(j.started) {
				t.Fatalf("re-encoding: %+v vs %+v, %v", j, j2, err)
			}
		}
		if c, err := decodeChunk(data); err == nil {
			b, err := encodeChunk(c)
			if err != nil || !bytes.Equal(b, data) {
				t.Fatalf("chunk re-encoding differs: %v", err)
			}
		}
	})
}

func FuzzDecodeIntent(f *testing.F) {
	f.Add(encodeIntent(intent{src: folderID{1}, srcName: "a", dst: folderID{2}, dstName: "b"}))
	f.Add([]byte(magicIntent))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := decodeIntent(data)
		if err != nil {
			return
		}
		if checkName(in.srcName) != nil || checkName(in.dstName) != nil {
			t.Fatalf("decoded bad names %+v", in)
		}
		if in2, err := decodeIntent(encodeIntent(in)); err != nil || in2 != in {
			t.Fatalf("re-encoding: %+v vs %+v, %v", in, in2, err)
		}
	})
}
