// Package holder assembles a storage peer: the badger database, the
// libp2p node, the quota ledger, and the services that keep things for
// others (the fragment, pointer and audit protocols), and the collection
// of fragments whose owners stopped renewing their leases (by audits or
// by storing them again; network/fragment's lease.go). The daemon builds its
// client side (data path, drive) on top of one; `cairn testnet`, the demo
// and any package's tests start clusters of them in one process
// (StartCluster): real hosts on 127.0.0.1 with real databases.
package holder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/fairness"
	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/network/audit"
	"github.com/cairn-storage/cairn/network/fragment"
	"github.com/cairn-storage/cairn/network/pointer"
	"github.com/cairn-storage/cairn/network/records"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/badgerstore"
)

// Config sets up a Holder.
type Config struct {
	// Dir is where the database lives; "" with InMemory.
	Dir      string
	InMemory bool
	// Identity is the libp2p private key (network.NewIdentity).
	Identity  []byte
	Listen    []string
	Bootstrap []string
	MDNS      bool
	// Contribute is the disk offered to others; Grace what an owner that
	// has earned nothing here may keep (fairness).
	Contribute, Grace int64
	// WrapStore, if set, wraps the store served to others: a test hook
	// for slow, failing or lying peers (storage/storetest.Faulty).
	WrapStore func(storage.FragmentStore) storage.FragmentStore
	// Lease is how long a fragment is kept for an owner that neither
	// audits nor stores it again (fragment.DefaultLease); LeaseCheck how
	// often run-out leases are collected (an hour, or Lease/8 if less).
	Lease, LeaseCheck time.Duration
	// Now is the clock of leases and audits; nil means time.Now.
	Now  func() time.Time
	Logf func(format string, args ...any)
}

// ErrOpenDatabase marks Start's failure to open the database (another
// daemon using the same home, say).
var ErrOpenDatabase = errors.New("cannot open the database")

// Holder is one running storage peer.
type Holder struct {
	DB        *badgerstore.DB
	Net       *network.Node
	Ledger    *fairness.Ledger
	Fragments *fragment.Service
	Pointers  *pointer.Service
	Audits    *audit.Service

	leases *storage.Loop

	logf      func(string, ...any)
	closeOnce sync.Once
}

// Start opens the database and the ledger, joins the network and starts
// serving. Errors: the database's (a home another daemon uses), the
// network's, and storage.IO for a ledger that cannot be read.
func Start(ctx context.Context, cfg Config) (_ *Holder, err error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lease <= 0 {
		cfg.Lease = fragment.DefaultLease
	}
	if cfg.LeaseCheck <= 0 {
		cfg.LeaseCheck = min(time.Hour, cfg.Lease/8)
	}
	h := &Holder{logf: cfg.Logf}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if h.DB, err = badgerstore.Open(cfg.Dir, badgerstore.Options{InMemory: cfg.InMemory}); err != nil {
		return nil, storage.E("open database", storage.KindOf(err), errors.Join(ErrOpenDatabase, err))
	}
	validators := map[string]network.Validator{records.Namespace: records.Validator{}}
	h.Net, err = network.New(ctx, network.Config{
		Identity: cfg.Identity, Listen: cfg.Listen, Bootstrap: cfg.Bootstrap, MDNS: cfg.MDNS,
		Logf: cfg.Logf, Validators: validators,
	})
	if err != nil {
		return nil, err
	}
	if h.Ledger, err = fairness.OpenLedger(ctx, cfg.Grace, h.DB.KV("ledger")); err != nil {
		return nil, storage.E("open the quota ledger", storage.IO, err)
	}
	frags := h.DB.Fragments()
	var served storage.FragmentStore = frags
	if cfg.WrapStore != nil {
		served = cfg.WrapStore(frags)
	}
	// A delegate's PUTs for an owner are refused once the owner revoked
	// the delegation here, as its audits are: one REVOKE, kept by the
	// audit service, voids both.
	revocations := h.DB.KV("delegations")
	h.Fragments = fragment.NewService(h.Net.Host(), fragment.ServiceConfig{
		Store:    served,
		Owners:   h.DB.KV("owners"),
		Admit:    Admitter{h.Ledger},
		Capacity: cfg.Contribute,
		Used:     frags.Bytes,
		Revoked: func(ctx context.Context, owner [32]byte, serial uint64) (bool, error) {
			return audit.Revoked(ctx, revocations, owner, serial)
		},
		Logf: cfg.Logf,
		Now:  cfg.Now,
	})
	// An audit is answered for the fragment's owners and their
	// delegates, and renews the owner's lease; leases not renewed for
	// cfg.Lease are collected. Revocations of delegations are one number
	// per owner, written only by owners the ledger holds bytes for (an
	// owner of at least one fragment here).
	h.Audits, err = audit.NewService(h.Net.Host(), audit.ServiceConfig{
		Store:      served,
		Authorized: h.Fragments.IsOwner,
		Renewed: func(ctx context.Context, ref storage.Ref, owner [32]byte, at time.Time) {
			if _, err := h.Fragments.Renew(ctx, ref, owner, at); err != nil {
				cfg.Logf("renewing the lease on %x: %v", ref[:6], err)
			}
		},
		Revocations: revocations,
		MayRevoke: func(_ context.Context, owner [32]byte) (bool, error) {
			return h.Ledger.Held(fragment.OwnerName(owner[:])) > 0, nil
		},
		Now:  cfg.Now,
		Logf: cfg.Logf,
	})
	if err != nil {
		return nil, err
	}
	h.leases = storage.Every(context.WithoutCancel(ctx), cfg.LeaseCheck, nil, func(ctx context.Context) {
		got, err := h.Fragments.Expire(ctx, cfg.Now().Add(-cfg.Lease))
		if err != nil {
			cfg.Logf("collecting leases: %v", err)
		} else if got.Leases > 0 {
			cfg.Logf("leases run out: %d; fragments deleted: %d (%d bytes)", got.Leases, got.Fragments, got.Bytes)
		}
	})
	// Records and inbox messages kept for others: the same admission as
	// fragments, within a budget of 1/32 of the contribution (1 to
	// 64 MiB) and the service's per-sender caps and expiry.
	h.Pointers, err = pointer.NewService(h.Net.Host(), pointer.ServiceConfig{
		KV:         h.DB.KV("pointers"),
		Validators: validators,
		Admit:      Admitter{h.Ledger},
		Budget:     min(max(cfg.Contribute/32, 1<<20), pointer.DefaultBudget),
		Logf:       cfg.Logf,
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Close stops serving, leaves the network and closes the database, in
// that order. It is safe to call more than once.
func (h *Holder) Close() {
	h.closeOnce.Do(func() {
		if h.leases != nil {
			h.leases.Close()
		}
		if h.Audits != nil {
			h.Audits.Close()
		}
		if h.Fragments != nil {
			h.Fragments.Close()
		}
		if h.Pointers != nil {
			h.Pointers.Close()
		}
		if h.Net != nil {
			if err := h.Net.Close(); err != nil {
				h.logf("closing network: %v", err)
			}
		}
		if h.DB != nil {
			if err := h.DB.Close(); err != nil {
				h.logf("closing database: %v", err)
			}
		}
	})
}

// Addr is the holder's /ip4/ TCP multiaddr with its peer ID, for others
// to bootstrap from; its first address if it has no such one.
func (h *Holder) Addr() string {
	addrs := h.Net.Addrs()
	for _, a := range addrs {
		if strings.HasPrefix(a, "/ip4/") && strings.Contains(a, "/tcp/") {
			return a
		}
	}
	if len(addrs) > 0 {
		return addrs[0]
	}
	return ""
}

// Admitter adapts a fairness.Ledger to storage.Admitter.
type Admitter struct{ L *fairness.Ledger }

// Admit asks the ledger; a refusal is storage.Quota.
func (a Admitter) Admit(ctx context.Context, owner string, size int64) error {
	if err := a.L.Admit(ctx, owner, size); err != nil {
		kind := storage.KindOf(err) // the KV's, if it could not save
		if errors.Is(err, fairness.ErrQuota) {
			kind = storage.Quota
		} else if kind == storage.Other {
			kind = storage.Invalid
		}
		return storage.E("admit", kind, err)
	}
	return nil
}

// Release gives size bytes of owner back to the ledger.
func (a Admitter) Release(ctx context.Context, owner string, size int64) error {
	return a.L.Release(ctx, owner, size)
}

// StartCluster starts n peers on 127.0.0.1 with their databases under
// dir/peer-NN, all bootstrapping from the first (whose address addr
// gives), a few at a time. start builds peer i from a Config whose Dir,
// Identity, Listen and Bootstrap are set: Start, or a caller's own
// assembly on top of it (the daemon's nodes, a test's lying peer). On an
// error the peers started so far are closed.
func StartCluster[H interface{ Close() }](ctx context.Context, dir string, n int,
	start func(ctx context.Context, i int, c Config) (H, error), addr func(H) string) ([]H, error) {
	peers := make([]H, n)
	started := make([]bool, n)
	one := func(i int, boot []string) error {
		ident, err := network.NewIdentity()
		if err != nil {
			return err
		}
		home := filepath.Join(dir, fmt.Sprintf("peer-%02d", i))
		if err := os.MkdirAll(home, 0o700); err != nil {
			return storage.E("start cluster", storage.IO, err)
		}
		p, err := start(ctx, i, Config{Dir: home, Identity: ident, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: boot})
		if err != nil {
			return err
		}
		peers[i], started[i] = p, true // each i is written by one goroutine
		return nil
	}
	if err := one(0, nil); err != nil {
		return nil, err
	}
	boot := []string{addr(peers[0])}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 4)
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs <- one(i, boot)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			var up []H
			for i, ok := range started {
				if ok {
					up = append(up, peers[i])
				}
			}
			CloseAll(up)
			return nil, err
		}
	}
	return peers, nil
}

// Cluster is StartCluster of plain holders, each with tmpl's other fields.
func Cluster(ctx context.Context, dir string, n int, tmpl Config) ([]*Holder, error) {
	return StartCluster(ctx, dir, n, func(ctx context.Context, _ int, c Config) (*Holder, error) {
		cfg := tmpl
		cfg.Dir, cfg.Identity, cfg.Listen, cfg.Bootstrap = c.Dir, c.Identity, c.Listen, c.Bootstrap
		return Start(ctx, cfg)
	}, (*Holder).Addr)
}

// CloseAll closes every peer, in parallel.
func CloseAll[H interface{ Close() }](hs []H) {
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Add(1)
		go func() { defer wg.Done(); h.Close() }()
	}
	wg.Wait()
}
