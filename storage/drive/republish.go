package drive

import (
	"context"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

// Republish publishes again every folder record this tree has seen (its
// own folders and the shared folders it reads), as cached, so that DHT
// nodes — which forget records after 48 hours and on restart — and
// storage peers that joined since keep holding them. A record the network
// holds a newer version of is refused and skipped. It returns how many
// records were published; the daemon calls it every few hours.
func (t *Tree) Republish(ctx context.Context) (int, error) {
	var recs []*cryptree.Record
	err := t.cfg.Cache.Scan(ctx, []byte(cacheRecord), func(_, v []byte) error {
		if rec, err := cryptree.ParseRecord(v); err == nil {
			recs = append(recs, rec)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	var firstErr error
	for _, rec := range recs {
		err := t.cfg.Records.Publish(ctx, rec)
		switch {
		case err == nil:
			n++
		case storage.KindOf(err) == storage.Exist:
			// someone published a newer version: nothing to keep alive
		case firstErr == nil:
			firstErr = err
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
	}
	return n, firstErr
}
