package records

import (
	"context"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
)

// publisher copies folder records into the DHT in the background: at most
// one put per folder at a time and at most one per dhtSpacing, each with
// the newest record published meanwhile. A folder that takes a thousand
// commits in a tree put then costs a few DHT puts instead of a thousand
// (each a Kademlia lookup and twenty stores: 12 % of the storage peers'
// CPU in a 2,000-file tree put before). Its goroutines are the Client's:
// Close stops them, dropping what is pending.
type publisher struct {
	c       *Client
	mu      sync.Mutex
	pending map[cryptree.FolderID]*cryptree.Record
	running map[cryptree.FolderID]bool
}

// publish queues rec for the DHT, replacing a pending record of the same
// folder unless that one has a higher seq.
func (p *publisher) publish(rec *cryptree.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		p.pending = map[cryptree.FolderID]*cryptree.Record{}
		p.running = map[cryptree.FolderID]bool{}
	}
	if old := p.pending[rec.ID]; old == nil || old.Seq <= rec.Seq {
		p.pending[rec.ID] = rec
	}
	if p.running[rec.ID] {
		return
	}
	if p.c.spawn(func() { p.run(rec.ID) }) {
		p.running[rec.ID] = true
	} else {
		delete(p.pending, rec.ID)
	}
}

// run puts the pending records of folder id one after another until none
// is left or the Client closes.
func (p *publisher) run(id cryptree.FolderID) {
	ctx := p.c.ctx
	for {
		p.mu.Lock()
		rec := p.pending[id]
		delete(p.pending, id)
		if rec == nil || ctx.Err() != nil {
			delete(p.running, id)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, dhtTimeout)
		err := p.c.node.PutValue(pctx, cryptree.RecordKey(id), rec.Marshal())
		cancel()
		if err != nil && ctx.Err() == nil {
			p.c.logf("records: DHT copy of folder %s seq %d: %v", id.String()[:8], rec.Seq, err)
		}
		if d := dhtSpacing - time.Since(start); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
}
