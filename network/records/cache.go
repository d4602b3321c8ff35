package records

import (
	"sync"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
)

// TTL is how long a record this node fetched or published is used
// without asking the network again: bulk work (a tree of 2,000 files)
// resolves the same folders over and over. Another writer's change to a
// shared folder shows up after at most this long; a write based on a
// stale copy is refused by the peers (Exist) and drops the copy.
const TTL = 2 * time.Second

// cache holds recently seen records. The zero value is empty.
type cache struct {
	mu sync.Mutex
	m  map[cryptree.FolderID]cached
}

type cached struct {
	rec *cryptree.Record
	at  time.Time
}

func (c *cache) get(id cryptree.FolderID) *cryptree.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok && time.Since(e.at) < TTL {
		return e.rec
	}
	return nil
}

// put keeps rec unless a record with a higher seq is held.
func (c *cache) put(rec *cryptree.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[cryptree.FolderID]cached{}
	}
	if old, ok := c.m[rec.ID]; ok && old.rec.Seq > rec.Seq {
		return
	}
	c.m[rec.ID] = cached{rec, time.Now()}
}

func (c *cache) drop(id cryptree.FolderID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}
