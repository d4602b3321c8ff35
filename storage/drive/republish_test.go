package drive

import (
	"context"
	"testing"

	"github.com/cairn-storage/cairn/cryptree"
)

// countingRecords counts publications on top of another Records.
type countingRecords struct {
	Records
	n int
}

func (c *countingRecords) Publish(ctx context.Context, rec *cryptree.Record) error {
	c.n++
	return c.Records.Publish(ctx, rec)
}

func TestRepublish(t *testing.T) {
	ctx := context.Background()
	env := newTreeEnv(t)
	tr := env.tree
	for _, p := range []string{"/a", "/a/b", "/c"} {
		if err := tr.Mkdir(ctx, p, true); err != nil {
			t.Fatal(err)
		}
	}
	cr := &countingRecords{Records: env.recs}
	tr.cfg.Records = cr
	n, err := tr.Republish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 || cr.n != 4 { // root, /a, /a/b, /c
		t.Fatalf("republished %d (%d calls), want the 4 folders", n, cr.n)
	}
}
