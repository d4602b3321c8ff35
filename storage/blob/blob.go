package blob

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/chunker"
)

// Defaults for Config.
const (
	DefaultK          = 10
	DefaultM          = 6
	DefaultExtra      = 2
	DefaultInlineMax  = 4 << 10
	DefaultFetchExtra = 2
)

// Config sets up a Client. The zero value of every field but Network and
// Secret means its default.
type Config struct {
	// Network gives the storage peers fragments are placed on.
	Network storage.Network
	// Ranker weighs peers for placement; nil weighs all peers alike.
	Ranker storage.Ranker
	// Secret derives chunk ids and keys (per user, see cryptree).
	Secret cryptree.ChunkSecret
	// ChunkerKey keys the chunker's gear table (cryptree's
	// Keyring.ChunkerKey), so that chunk boundaries cannot be predicted
	// without it. If zero, a key derived from Secret is used instead
	// (fallbackChunkerKey), so a user's data is never cut with the public
	// table; the two keys differ, so set it the same way for every client
	// of a user, or their chunks will not dedup across uploads.
	ChunkerKey [chunker.KeySize]byte
	// K data and M parity fragments per chunk: any K rebuild it, and a
	// chunk is placed only when K+M fragments are on distinct peers.
	K, M int
	// Extra spare parity fragments are coded with every chunk and kept
	// back: they go to other peers in place of transfers that fail or
	// straggle (see hedgeFactor), and the slowest transfers are cancelled
	// once K+M have landed. Negative means none.
	Extra int
	// Chunking parameters (chunker.Default).
	Chunking chunker.Params
	// InlineMax is the size up to which a file is kept inside its
	// manifest rather than chunked and erasure-coded. Negative: never.
	InlineMax int
	// Workers is the number of chunks sealed, coded and placed at once
	// (and the read-ahead of streaming reads); default GOMAXPROCS+1.
	Workers int
	// FetchExtra is how many holders beyond K a chunk's read may ask at
	// once when it hedges stragglers (it asks exactly K first).
	FetchExtra int
	// Logf, if set, receives notes on placement and retries.
	Logf func(format string, args ...any)
}

// Client runs the data path for one user. It is safe for concurrent use.
type Client struct {
	cfg    Config
	table  *chunker.Table // keyed by cfg.ChunkerKey
	placer *placer

	mu    sync.Mutex
	codes map[[2]int]*erasure.Code

	// slots bounds the chunks sealed and not yet placed across all Puts.
	slots chan struct{}
}

// New checks cfg, fills in defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Network == nil {
		return nil, storage.E("blob config", storage.Invalid, fmt.Errorf("no network"))
	}
	if cfg.K == 0 {
		cfg.K = DefaultK
	}
	if cfg.M == 0 {
		cfg.M = DefaultM
	}
	switch {
	case cfg.Extra == 0:
		cfg.Extra = DefaultExtra
	case cfg.Extra < 0:
		cfg.Extra = 0
	}
	if cfg.Chunking == (chunker.Params{}) {
		cfg.Chunking = chunker.Default
	}
	if err := cfg.Chunking.Validate(); err != nil {
		return nil, storage.E("blob config", storage.Invalid, err)
	}
	if n := cryptree.PaddedChunkSize(cfg.Chunking.Max); n > erasure.MaxData {
		return nil, storage.E("blob config", storage.Invalid,
			fmt.Errorf("chunks of up to %d bytes seal to %d, over the erasure code's %d", cfg.Chunking.Max, n, erasure.MaxData))
	}
	switch {
	case cfg.InlineMax == 0:
		cfg.InlineMax = DefaultInlineMax
	case cfg.InlineMax < 0:
		cfg.InlineMax = 0
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0) + 1
	}
	if cfg.FetchExtra <= 0 {
		cfg.FetchExtra = DefaultFetchExtra
	}
	if cfg.K < 1 || cfg.M < 0 || cfg.K+cfg.M+cfg.Extra > erasure.MaxShards {
		return nil, storage.E("blob config", storage.Invalid,
			fmt.Errorf("code %d+%d(+%d spare) outside 1..%d fragments", cfg.K, cfg.M, cfg.Extra, erasure.MaxShards))
	}
	key := cfg.ChunkerKey
	if key == ([chunker.KeySize]byte{}) {
		key = fallbackChunkerKey(&cfg.Secret)
	}
	c := &Client{
		cfg:    cfg,
		table:  chunker.Keyed(key),
		placer: &placer{net: cfg.Network, ranker: cfg.Ranker, logf: cfg.Logf},
		codes:  map[[2]int]*erasure.Code{},
		slots:  make(chan struct{}, 2*cfg.Workers+2),
	}
	if _, err := c.code(cfg.K, cfg.M+cfg.Extra); err != nil {
		return nil, storage.E("blob config", storage.Invalid, err)
	}
	return c, nil
}

// Config returns the client's configuration with defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// code returns the (cached) erasure code for k data and p parity fragments.
func (c *Client) code(k, p int) (*erasure.Code, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if code, ok := c.codes[[2]int{k, p}]; ok {
		return code, nil
	}
	code, err := erasure.New(k, p)
	if err != nil {
		return nil, err
	}
	c.codes[[2]int{k, p}] = code
	return code, nil
}

// fallbackChunkerKey is the chunker key of a Config without one:
// HKDF-SHA256(ikm = Secret, salt = empty, info = "cairn blob v1 chunker key
// from chunk secret", 32 bytes). Callers with a keyring pass its
// ChunkerKey instead (cmd/cairn does).
func fallbackChunkerKey(s *cryptree.ChunkSecret) [chunker.KeySize]byte {
	b, err := hkdf.Key(sha256.New, s[:], nil, "cairn blob v1 chunker key from chunk secret", chunker.KeySize)
	if err != nil {
		panic("blob: hkdf: " + err.Error()) // unreachable: 32 bytes
	}
	return [chunker.KeySize]byte(b)
}
