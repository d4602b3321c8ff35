package home

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/storage"
)

// The names of a home's files.
const (
	ConfigFile     = "config.json"
	KeyringFile    = "keyring"
	IdentityFile   = "node.key"
	DBDir          = "db"
	SocketFile     = "daemon.sock"
	SocketAddrFile = "daemon.addr" // where the socket is when the home's path is too long for one
)

// ErrNotHome is wrapped by the error of Open on a folder that is not a home.
var ErrNotHome = errors.New("not a cairn home")

// Config is the home's config.json: the defaults of `cairn daemon`.
type Config struct {
	Listen     []string `json:"listen,omitempty"`
	Bootstrap  []string `json:"bootstrap,omitempty"`
	Contribute string   `json:"contribute,omitempty"` // a size for ParseSize
	Grace      string   `json:"grace,omitempty"`      // a size for ParseSize
	MDNS       *bool    `json:"mdns,omitempty"`
	Created    int64    `json:"created"` // Unix seconds of init
	// Maintenance: durations as time.ParseDuration reads them ("90s").
	// Lease is how long this node keeps a fragment for an owner who
	// stops renewing it; AuditEvery how often the audit loop's rounds
	// start, AuditBudget how many audits one makes, AuditPass how often
	// a pass over the whole drive starts, AuditProve how often each
	// fragment is proved by an audit (between proofs, passes only check
	// that it is there) (Settings' defaults).
	Lease       string `json:"lease,omitempty"`
	AuditEvery  string `json:"audit_every,omitempty"`
	AuditBudget int    `json:"audit_budget,omitempty"`
	AuditPass   string `json:"audit_pass,omitempty"`
	AuditProve  string `json:"audit_prove,omitempty"`
}

// Passphrase supplies the keyring's passphrase. Init, Recover and Keyring
// call it once, after the checks that need none, so a prompt comes only
// when there is something to seal or open. Its error is returned as it is.
type Passphrase func() ([]byte, error)

// Home is an opened home folder. Its methods read the files each time; a
// Home is safe for concurrent use except for SaveConfig.
type Home struct {
	dir string
	cfg *Config
}

// Open reads the home in dir. A folder without config.json is not a home
// (Invalid, wrapping ErrNotHome); an unreadable config.json is Invalid too.
func Open(dir string) (*Home, error) {
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, storage.E("open home", storage.Invalid, fmt.Errorf("%s is %w", dir, ErrNotHome))
	}
	if err != nil {
		return nil, storage.E("read config", storage.IO, err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, storage.E("read config", storage.Invalid, fmt.Errorf("%s: %v", filepath.Join(dir, ConfigFile), err))
	}
	return &Home{dir: dir, cfg: &c}, nil
}

// Exists reports whether dir holds a complete home (one with a keyring).
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, KeyringFile))
	return err == nil
}

// Init creates a home in dir for a new user: a fresh keyring sealed under
// pass with kdf, a node identity and a config. It refuses (Exist) if dir
// holds a home already. The keyring's RecoverySecret is the user's only
// way back if the home is lost: show it once.
func Init(dir string, pass Passphrase, kdf cryptree.KDFParams) (*Home, *cryptree.Keyring, error) {
	if Exists(dir) {
		return nil, nil, exists(dir)
	}
	kr, err := cryptree.NewKeyring()
	if err != nil {
		return nil, nil, err
	}
	return create(dir, kr, pass, kdf)
}

// Recover creates a home in dir for the user whose recovery secret is
// given: the same keys (and user id), a new node identity. A secret that
// does not parse is Invalid; a home already in dir is Exist.
func Recover(dir, secret string, pass Passphrase, kdf cryptree.KDFParams) (*Home, *cryptree.Keyring, error) {
	if Exists(dir) {
		return nil, nil, exists(dir)
	}
	kr, err := cryptree.ParseRecoverySecret(secret)
	if err != nil {
		return nil, nil, storage.E("recover", storage.Invalid, err)
	}
	return create(dir, kr, pass, kdf)
}

func exists(dir string) error {
	return storage.E("init", storage.Exist, fmt.Errorf("%s already holds a cairn identity", dir))
}

func create(dir string, kr *cryptree.Keyring, pass Passphrase, kdf cryptree.KDFParams) (*Home, *cryptree.Keyring, error) {
	p, err := pass()
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, storage.E("create home", storage.IO, err)
	}
	kf, err := kr.MarshalFile(p, kdf)
	if err != nil {
		return nil, nil, err
	}
	ident, err := network.NewIdentity()
	if err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, IdentityFile), ident, 0o600); err != nil {
		return nil, nil, err
	}
	h := &Home{dir: dir}
	if err := h.SaveConfig(&Config{Created: time.Now().Unix()}); err != nil {
		return nil, nil, err
	}
	// The keyring last: its presence marks a complete home.
	if err := writeFileAtomic(filepath.Join(dir, KeyringFile), kf, 0o600); err != nil {
		return nil, nil, err
	}
	return h, kr, nil
}

// Dir is the home's folder.
func (h *Home) Dir() string { return h.dir }

// DBDir is the folder of the home's database.
func (h *Home) DBDir() string { return filepath.Join(h.dir, DBDir) }

// Config is the config as read by Open or last saved. Change it and call
// SaveConfig to keep the change.
func (h *Home) Config() *Config { return h.cfg }

// SaveConfig replaces config.json with c, atomically.
func (h *Home) SaveConfig(c *Config) error {
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := writeFileAtomic(filepath.Join(h.dir, ConfigFile), append(b, '\n'), 0o600); err != nil {
		return err
	}
	h.cfg = c
	return nil
}

// Keyring reads the keyring file and opens it with the passphrase. A
// missing or unreadable file is Invalid (asked before the passphrase); a
// wrong passphrase or a damaged file CannotDecrypt; a malformed one
// Corrupt.
func (h *Home) Keyring(pass Passphrase) (*cryptree.Keyring, error) {
	b, err := os.ReadFile(filepath.Join(h.dir, KeyringFile))
	if err != nil {
		return nil, storage.E("open keyring", storage.Invalid, err)
	}
	p, err := pass()
	if err != nil {
		return nil, err
	}
	kr, err := cryptree.ParseKeyringFile(b, p)
	if errors.Is(err, cryptree.ErrCannotDecrypt) {
		return nil, storage.E("open keyring", storage.CannotDecrypt, errors.New("wrong passphrase or damaged keyring"))
	}
	if err != nil {
		return nil, storage.E("open keyring", storage.Corrupt, err)
	}
	return kr, nil
}

// Identity reads the node's libp2p key and the peer id it gives. A missing
// or unreadable file is Invalid, a malformed one Corrupt.
func (h *Home) Identity() ([]byte, storage.PeerID, error) {
	key, err := os.ReadFile(filepath.Join(h.dir, IdentityFile))
	if err != nil {
		return nil, "", storage.E("read node key", storage.Invalid, err)
	}
	id, err := network.IdentityPeerID(key)
	if err != nil {
		return nil, "", storage.E("read node key", storage.Corrupt, err)
	}
	return key, id, nil
}

// writeFileAtomic writes via a temporary file and a rename, so a crash
// leaves the old file or the new one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return storage.E("write "+filepath.Base(path), storage.IO, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return storage.E("write "+filepath.Base(path), storage.IO, err)
	}
	return nil
}
