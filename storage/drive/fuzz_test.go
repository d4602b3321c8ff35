package drive

import (
	"bytes"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

func testChunk() blob.Chunk {
	return blob.Chunk{ID: [32]byte{1}, Key: [16]byte{2}, Size: 10, SealedLen: 27, K: 2, N: 3,
		Frags: []blob.Frag{{Index: 0, Ref: storage.Ref{3}, Holder: "peer-a"}, {Index: 2, Ref: storage.Ref{4}, Holder: "peer-b"}}}
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
