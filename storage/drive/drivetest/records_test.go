package drivetest

import (
	"context"
	"errors"
	"testing"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

func TestRecords(t *testing.T) {
	ctx := context.Background()
	f := NewRecords()
	w, err := cryptree.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	id := w.ID()
	if _, err := f.Lookup(ctx, id); !errors.Is(err, storage.NotExist) {
		t.Fatalf("lookup of nothing: %v", err)
	}
	r1, _ := cryptree.SignRecord(w, 1, []byte("one"))
	r2, _ := cryptree.SignRecord(w, 2, []byte("two"))
	for _, r := range []*cryptree.Record{r1, r2, r2} {
		if err := f.Publish(ctx, r); err != nil {
			t.Fatalf("publish seq %d: %v", r.Seq, err)
		}
	}
	if err := f.Publish(ctx, r1); !errors.Is(err, storage.Exist) {
		t.Fatalf("stale publish: %v, want Exist", err)
	}
	forged := *r2
	forged.Seq = 3
	if err := f.Publish(ctx, &forged); !errors.Is(err, storage.Invalid) {
		t.Fatalf("forged publish: %v, want Invalid", err)
	}
	if got, err := f.Lookup(ctx, id); err != nil || got.Seq != 2 || string(got.Value) != "two" {
		t.Fatalf("lookup: %+v, %v", got, err)
	}
	f.Serve(func(cryptree.FolderID) *cryptree.Record { return r1 })
	if got, _ := f.Lookup(ctx, id); got.Seq != 1 {
		t.Fatalf("served %d, want the lie", got.Seq)
	}
	f.Serve(nil)
	if c := f.Current(id); c == nil || c.Seq != 2 {
		t.Fatalf("current: %+v", c)
	}
	f.Forget(id)
	if f.Current(id) != nil || len(f.History()) != 2 || f.Lookups() != 3 || f.Publishes() != 5 {
		t.Fatalf("after forget: %v, %d records, %d lookups, %d publishes",
			f.Current(id), len(f.History()), f.Lookups(), f.Publishes())
	}
}
