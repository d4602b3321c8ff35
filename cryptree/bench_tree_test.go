package cryptree

import (
	"fmt"
	"testing"
)

// bigFolder has n files of one version each with a 200-byte manifest (a
// locator or a small inline manifest) and names of about 14 bytes.
func bigFolder(b *testing.B, n int) (*Folder, FolderID, FolderKeys) {
	rnd := &stream{next: 1}
	w := mustWriter(b, rnd)
	f := &Folder{Name: "big", Mtime: t0}
	for i := range n {
		l, _ := NewLabel()
		dk, _ := NewKey()
		f.Files = append(f.Files, FileEntry{Label: l, DK: dk, Meta: FileMeta{
			Name:     fmt.Sprintf("file-%06d.txt", i),
			Versions: []Version{{N: 1, Size: 12345, Mtime: t0, Manifest: make([]byte, 200)}},
		}})
	}
	return f, w.ID(), mustKeys(b, rnd)
}

func BenchmarkSealFolder1000(b *testing.B) {
	f, id, keys := bigFolder(b, 1000)
	var body []byte
	for b.Loop() {
		var err error
		if body, err = SealFolder(f, id, keys, nil); err != nil {
			b.Fatal(err)
		}
	}
	content, _ := Unpad(body)
	b.ReportMetric(float64(len(body)), "body-bytes")
	b.ReportMetric(float64(len(content))/1000, "bytes/file")
	b.ReportMetric(float64(len(content))/1000-214, "overhead-bytes/file")
}

func BenchmarkOpenFolder1000(b *testing.B) {
	f, id, keys := bigFolder(b, 1000)
	body, err := SealFolder(f, id, keys, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, err := OpenFolder(body, id, keys.SK, nil); err != nil {
			b.Fatal(err)
		}
	}
}
