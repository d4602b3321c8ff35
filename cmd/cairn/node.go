package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/fairness"
	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/network/audit"
	"github.com/cairn-storage/cairn/network/fragment"
	"github.com/cairn-storage/cairn/network/holder"
	"github.com/cairn-storage/cairn/network/pointer"
	"github.com/cairn-storage/cairn/network/records"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/badgerstore"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/drive"
	"github.com/cairn-storage/cairn/storage/health"
)

const fragmentProtocol = fragment.ProtocolID

// nodeConfig is everything a running node needs; the daemon, testnet and
// demo all build one.
type nodeConfig struct {
	Home       string // where db/ lives; "" with InMemory
	InMemory   bool
	Identity   []byte            // nil: a fresh one (a short-lived node)
	Keyring    *cryptree.Keyring // nil: a storage-only node (testnet), or a Reader
	Reader     bool              // with no Keyring: the data path without keys, to read a link
	Listen     []string
	Bootstrap  []string
	MDNS       bool
	Contribute int64
	Grace      int64
	Lease      time.Duration // of fragments kept for others (0: the default)
	Logf       func(string, ...any)
	// WaitPeers is how long a put waits, early in the node's life, for
	// enough peers to be found before it gives up.
	WaitPeers time.Duration
	Blob      blob.Config // overrides (tests, demo); Network and Secret are set here
	// WrapStore, if set, wraps the store this node serves to others: a
	// test hook for slow, failing or lying peers.
	WrapStore func(storage.FragmentStore) storage.FragmentStore
}

// node is the wiring of one running Cairn node: a storage peer
// (network/holder: database, libp2p node, ledger, fragment and pointer
// services), and on it the client side: records, fragment client, the
// data path and the drive.
type node struct {
	cfg     nodeConfig
	h       *holder.Holder
	db      *badgerstore.DB
	net     *network.Node
	fc      *fragment.Client
	ptr     *pointer.Client
	records *records.Client
	blob    *blob.Client
	drive   *drive.Drive
	ledger  *fairness.Ledger
	scores  *health.Scores  // the storage peers' reputation: placement, audits
	audits  storage.Auditor // nil without a Keyring
	started time.Time

	closeOnce sync.Once
}

func startNode(ctx context.Context, cfg nodeConfig) (_ *node, err error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Identity == nil {
		if cfg.Identity, err = network.NewIdentity(); err != nil {
			return nil, err
		}
	}
	n := &node{cfg: cfg, started: time.Now()} // closed below if a step fails
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	n.h, err = holder.Start(ctx, holder.Config{
		Dir: filepath.Join(cfg.Home, dbDir), InMemory: cfg.InMemory,
		Identity: cfg.Identity, Listen: cfg.Listen, Bootstrap: cfg.Bootstrap, MDNS: cfg.MDNS,
		Contribute: cfg.Contribute, Grace: cfg.Grace, Lease: cfg.Lease, WrapStore: cfg.WrapStore, Logf: cfg.Logf,
	})
	if errors.Is(err, holder.ErrOpenDatabase) {
		return nil, withHint(err, "is another cairn daemon using this home?")
	}
	if err != nil {
		return nil, err
	}
	n.db, n.net, n.ledger = n.h.DB, n.h.Net, n.h.Ledger
	n.ptr = pointer.NewClient(n.net.Host())
	n.records, err = records.New(ctx, records.Config{Node: n.net, Pointer: n.ptr, Logf: cfg.Logf})
	if err != nil {
		return nil, err
	}
	if n.scores, err = health.OpenScores(ctx, n.db.KV("health"), health.Options{Logf: cfg.Logf}); err != nil {
		return nil, err
	}
	if cfg.Keyring == nil && !cfg.Reader {
		return n, nil
	}
	var sign ed25519.PrivateKey // a reader's is nil: it stores nothing
	bcfg := cfg.Blob
	bcfg.Network, bcfg.Logf, bcfg.Ranker = &peerNet{n: n}, cfg.Logf, n.scores
	if cfg.Keyring != nil {
		sign = cfg.Keyring.SigningKey()
		bcfg.Secret, bcfg.ChunkerKey = cfg.Keyring.ChunkSecret(), cfg.Keyring.ChunkerKey()
	}
	n.fc = fragment.NewClient(n.net.Host(), sign)
	n.blob, err = blob.New(bcfg)
	if err != nil {
		return nil, err
	}
	if cfg.Keyring == nil {
		return n, nil
	}
	n.audits = audit.NewClient(n.net.Host(), sign).Auditor(audit.DefaultLeaves)
	rootKeys, rootWriter := cfg.Keyring.RootFolder()
	boxPriv, _ := cfg.Keyring.BoxKey()
	// The drive opens its tree once enough storage peers are known (or
	// cfg.WaitPeers has passed), so that a fresh daemon does not take an
	// unreachable root for a missing one.
	need := n.blob.Config().K + n.blob.Config().M
	n.drive, err = drive.Open(ctx, drive.Config{
		Tree: drive.TreeConfig{
			Objects: n.blob, Records: n.records, Cache: n.db.KV("tree"),
			Root: rootWriter.ID(), RootKeys: rootKeys, RootWriter: &rootWriter,
			Sharing: &drive.Sharing{Sign: sign, Box: boxPriv, Inbox: inbox{n.records.Inbox(sign)}},
			Logf:    cfg.Logf,
		},
		Journal: n.db.KV("journal"), MetaKey: cfg.Keyring.MetadataKey(),
		Wait: func(ctx context.Context) error {
			_, err := n.net.WaitPeers(ctx, fragmentProtocol, need, cfg.WaitPeers)
			return err
		},
		Logf: cfg.Logf,
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Close stops everything, in reverse order of starting.
func (n *node) Close() {
	n.closeOnce.Do(func() {
		if n.drive != nil {
			n.drive.Close()
		}
		if n.records != nil {
			n.records.Close()
		}
		if n.h != nil {
			n.h.Close()
		}
	})
}

// peerNet is the storage.Network of a node: the peers its libp2p node
// knows to speak the fragment protocol, reached through the fragment
// client.
type peerNet struct{ n *node }

func (p *peerNet) Peers(ctx context.Context) ([]storage.PeerInfo, error) {
	bc := p.n.blob.Config()
	return p.n.net.WaitPeers(ctx, fragment.ProtocolID, bc.K+bc.M, time.Until(p.n.started.Add(p.n.cfg.WaitPeers)))
}

func (p *peerNet) Store(id storage.PeerID) storage.FragmentStore { return p.n.fc.Store(id) }

// inbox is drive.Inbox over records.Inbox: the same messages under the
// drive's type.
type inbox struct{ *records.Inbox }

func (b inbox) Fetch(ctx context.Context) ([]drive.InboxMessage, error) {
	ms, err := b.Inbox.Fetch(ctx)
	return convert(ms, func(m records.Message) drive.InboxMessage { return drive.InboxMessage(m) }), err
}

// daemonLogger writes timestamped lines to stderr.
func daemonLogger() func(string, ...any) {
	l := log.New(os.Stderr, "", log.LstdFlags)
	return func(format string, args ...any) { l.Printf(format, args...) }
}
