// Package delegate hands the audits and repairs of an owner's data to
// another node, key-less: the owner (Owner) signs a delegation
// certificate for the delegate's user key (network/audit) and strips its
// manifests to a repair capability (blob.CapabilityOf: fragment refs,
// holders, codes; no keys, no names, no sizes beyond the sealed lengths
// fragment sizes reveal). The delegate (Keeper) keeps the capabilities it
// accepted and, each round, audits every fragment under the certificate
// (which renews the owner's leases) and repairs the chunks due for it on
// ciphertext, placing new fragments in the owner's name: its PUTs carry
// the certificate and are signed with the delegate's key
// (fragment.NewDelegateClient). When the owner is back it folds the
// delegate's placement into its manifests (Owner.Fold) and can revoke
// the delegation at every holder (Owner.Revoke); a certificate also
// simply expires.
//
// A capability travels as one line of text, "cairn-repair:" and the
// base64url of its encoding (network/PROTOCOL.md, "Repair capability"),
// in a file the users carry: the owner's daemon writes it (Grant), the
// delegate's reads it (Accept), and back (Return, Fold).
//
// Request and answer types carry JSON tags: they are the daemon's local
// API as they are.
package delegate

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/network/audit"
	"github.com/cairn-storage/cairn/network/fragment"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/drive"
)

// Prefix starts a capability written as text.
const Prefix = "cairn-repair:"

// DefaultDays is how long a delegation lasts unless asked otherwise.
const DefaultDays = 30

// Encode writes a capability as one line of text.
func Encode(c *blob.Capability) (string, error) {
	b, err := c.MarshalBinary()
	if err != nil {
		return "", err
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Decode reads a capability written by Encode.
func Decode(s string) (*blob.Capability, *audit.Cert, error) {
	const op = "read repair capability"
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, Prefix) {
		return nil, nil, storage.E(op, storage.Invalid, fmt.Errorf("not a repair capability (they start %q)", Prefix))
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(Prefix):])
	if err != nil {
		return nil, nil, storage.E(op, storage.Corrupt, err)
	}
	c, err := blob.ParseCapability(b)
	if err != nil {
		return nil, nil, err
	}
	cert, err := audit.ParseCert(c.Cert)
	if err != nil {
		return nil, nil, storage.E(op, storage.Corrupt, err)
	}
	return c, cert, nil
}

// readFile and writeFile carry capabilities; files are the user's, so a
// failure is storage.IO with the path.
func readFile(p string) (*blob.Capability, *audit.Cert, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, storage.Ef("read repair capability", storage.IO, p, err)
	}
	return Decode(string(b))
}

func writeFile(p string, c *blob.Capability) error {
	s, err := Encode(c)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p, []byte(s+"\n"), 0o600); err != nil {
		return storage.Ef("write repair capability", storage.IO, p, err)
	}
	return nil
}

// Owner is the owner's side, over its drive.
type Owner struct {
	Drive *drive.Drive
	Key   ed25519.PrivateKey // the user's signing key: what its fragments are kept under
	Audit *audit.Client      // to send REVOKE
	KV    storage.KV         // the serial numbers issued
	mu    sync.Mutex
}

// GrantRequest asks for a capability of the files under Path for the
// user To, for Days (DefaultDays if 0), written to the file Out.
type GrantRequest struct {
	Path string `json:"path"`
	To   string `json:"to"`
	Days int    `json:"days"`
	Out  string `json:"out"`
}

// Grant is what a grant, an accept or a return made.
type Grant struct {
	Owner    string    `json:"owner"`    // the owner's key, hex
	Delegate string    `json:"delegate"` // the delegate's key, hex
	Serial   uint64    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
	Chunks   int       `json:"chunks"`
	File     string    `json:"file,omitempty"`
	// Checked and Repaired: on the delegate, when it last went over the
	// capability and how many chunks it has repaired since accepting it.
	Checked  time.Time `json:"checked,omitzero"`
	Repaired int       `json:"repaired"`
}

func grantOf(cert *audit.Cert, c *blob.Capability, file string) Grant {
	return Grant{Owner: hex.EncodeToString(cert.Owner[:]), Delegate: hex.EncodeToString(cert.Delegate[:]),
		Serial: cert.Serial, NotAfter: time.Unix(cert.NotAfter, 0).UTC(), Chunks: len(c.Chunks), File: file}
}

var serialKey = []byte("delegate/serial")

// Grant signs a certificate with the next serial and writes the
// capability of the files under r.Path to r.Out.
func (o *Owner) Grant(ctx context.Context, r GrantRequest) (Grant, error) {
	const op = "delegate"
	to, _, err := cryptree.ParseUserID(r.To)
	if err != nil {
		return Grant{}, storage.Ef(op, storage.Invalid, r.To, err)
	}
	if !filepath.IsAbs(r.Out) {
		return Grant{}, storage.Ef(op, storage.Invalid, r.Out, errors.New("the file to write must be an absolute path"))
	}
	days := r.Days
	if days == 0 {
		days = DefaultDays
	}
	if days < 0 || time.Duration(days)*24*time.Hour > audit.MaxValidity {
		return Grant{}, storage.E(op, storage.Invalid, fmt.Errorf("%d days: a delegation lasts 1 to %d days", days, int(audit.MaxValidity/(24*time.Hour))))
	}
	ms, err := o.Drive.Manifests(ctx, r.Path)
	if err != nil {
		return Grant{}, err
	}
	serial, err := o.nextSerial(ctx)
	if err != nil {
		return Grant{}, err
	}
	certB, err := audit.SignCert(o.Key, to, time.Now().Add(time.Duration(days)*24*time.Hour), serial)
	if err != nil {
		return Grant{}, err
	}
	cert, err := audit.ParseCert(certB)
	if err != nil {
		return Grant{}, err
	}
	c := blob.CapabilityOf(ms, certB)
	if err := writeFile(r.Out, c); err != nil {
		return Grant{}, err
	}
	return grantOf(cert, c, r.Out), nil
}

func (o *Owner) nextSerial(ctx context.Context) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var n uint64
	b, err := o.KV.Get(ctx, serialKey)
	switch {
	case err == nil && len(b) == 8:
		n = binary.BigEndian.Uint64(b)
	case err != nil && storage.KindOf(err) != storage.NotExist:
		return 0, err
	}
	n++
	return n, o.KV.Set(ctx, serialKey, binary.BigEndian.AppendUint64(nil, n))
}

// FileRequest names a capability file (absolute), for Fold and Accept.
type FileRequest struct {
	File string `json:"file"`
}

// Folded is what a fold changed.
type Folded struct {
	Chunks int `json:"chunks"` // chunks whose placement the manifests took
}

// Fold takes the placement of the capability in r.File (as a delegate
// returned it) into the manifests of every file. Errors: the file's,
// storage.Permission for a capability of another owner.
func (o *Owner) Fold(ctx context.Context, r FileRequest) (Folded, error) {
	c, cert, err := readFile(r.File)
	if err != nil {
		return Folded{}, err
	}
	if !ed25519.PublicKey(cert.Owner[:]).Equal(o.Key.Public()) {
		return Folded{}, storage.Ef("fold", storage.Permission, r.File, errors.New("the capability is another user's"))
	}
	n, err := o.Drive.Fold(ctx, "/", c)
	return Folded{Chunks: n}, err
}

// Revoked is what a revocation reached.
type Revoked struct {
	Serial  uint64 `json:"serial"`
	Holders int    `json:"holders"` // told
	Failed  int    `json:"failed"`  // not reached now: their certificates still run out
}

// Revoke tells every holder of the user's files that every delegation
// issued so far is void.
func (o *Owner) Revoke(ctx context.Context, _ struct{}) (Revoked, error) {
	b, err := o.KV.Get(ctx, serialKey)
	if err != nil || len(b) != 8 {
		return Revoked{}, storage.E("revoke", storage.NotExist, errors.New("no delegation was ever granted"))
	}
	out := Revoked{Serial: binary.BigEndian.Uint64(b)}
	ms, err := o.Drive.Manifests(ctx, "/")
	if err != nil {
		return out, err
	}
	seen := map[storage.PeerID]bool{}
	for _, m := range ms {
		for _, p := range m.Holders() {
			if seen[p] {
				continue
			}
			seen[p] = true
			if err := o.Audit.Revoke(ctx, p, out.Serial); err != nil {
				out.Failed++
				continue
			}
			out.Holders++
		}
	}
	return out, nil
}

// Keeper is the delegate's side: the capabilities it accepted, kept in
// KV under "delegate/in/" ‖ owner key, one per owner (the latest).
type Keeper struct {
	Host  host.Host
	Key   ed25519.PrivateKey // this user's signing key: the delegate named in certificates
	KV    storage.KV
	Peers func(ctx context.Context) ([]storage.PeerInfo, error)
	// Blob is the data path's configuration for the owners' chunks (K
	// and M as the owners'); Network and Secret are set per owner.
	Blob blob.Config
	// Check makes the audits' and repairs' options (History, scores).
	Check func(a storage.Auditor) blob.CheckOptions
	// Local, if set, is this node's own fragment store (a delegate is
	// often a holder of the owner's fragments too): fragments on Self are
	// read and audited there, as no node can dial itself.
	Self  storage.PeerID
	Local storage.FragmentStore
	Logf  func(format string, args ...any)
}

func keeperKey(owner [32]byte) []byte { return append([]byte("delegate/in/"), owner[:]...) }

// kept is one accepted capability with its state.
type kept struct {
	Text     string    `json:"capability"`
	Checked  time.Time `json:"checked"`
	Repaired int       `json:"repaired"`
}

// Accept keeps the capability in r.File for its owner (replacing an older
// one). Errors: Permission for one that names another delegate or has
// expired, the file's.
func (k *Keeper) Accept(ctx context.Context, r FileRequest) (Grant, error) {
	c, cert, err := readFile(r.File)
	if err != nil {
		return Grant{}, err
	}
	if !ed25519.PublicKey(cert.Delegate[:]).Equal(k.Key.Public()) {
		return Grant{}, storage.Ef("accept delegation", storage.Permission, r.File, errors.New("the capability names another delegate"))
	}
	if err := cert.Valid(time.Now()); err != nil {
		return Grant{}, storage.Ef("accept delegation", storage.Permission, r.File, err)
	}
	if err := k.save(ctx, cert.Owner, c, kept{}); err != nil {
		return Grant{}, err
	}
	return grantOf(cert, c, ""), nil
}

func (k *Keeper) save(ctx context.Context, owner [32]byte, c *blob.Capability, st kept) error {
	s, err := Encode(c)
	if err != nil {
		return err
	}
	st.Text = s
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return k.KV.Set(ctx, keeperKey(owner), b)
}

// List is what the delegate keeps, by owner.
func (k *Keeper) List(ctx context.Context, _ struct{}) ([]Grant, error) {
	out := []Grant{}
	err := k.each(ctx, func(owner [32]byte, c *blob.Capability, cert *audit.Cert, st kept) error {
		g := grantOf(cert, c, "")
		g.Checked, g.Repaired = st.Checked, st.Repaired
		out = append(out, g)
		return nil
	})
	return out, err
}

func (k *Keeper) each(ctx context.Context, fn func(owner [32]byte, c *blob.Capability, cert *audit.Cert, st kept) error) error {
	type entry struct {
		owner [32]byte
		st    kept
	}
	var es []entry
	err := k.KV.Scan(ctx, []byte("delegate/in/"), func(key, v []byte) error {
		var e entry
		copy(e.owner[:], key[len("delegate/in/"):])
		if err := json.Unmarshal(v, &e.st); err != nil {
			return storage.E("read delegations", storage.Corrupt, err)
		}
		es = append(es, e)
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range es {
		c, cert, err := Decode(e.st.Text)
		if err != nil {
			return err
		}
		if err := fn(e.owner, c, cert, e.st); err != nil {
			return err
		}
	}
	return nil
}

// ReturnRequest asks for the current capability of the owner Owner (its
// user id), written to the file Out, to be folded by the owner.
type ReturnRequest struct {
	Owner string `json:"owner"`
	Out   string `json:"out"`
}

// Return writes the capability kept for r.Owner, with the placement the
// delegate's repairs made, to r.Out.
func (k *Keeper) Return(ctx context.Context, r ReturnRequest) (Grant, error) {
	sign, _, err := cryptree.ParseUserID(r.Owner)
	if err != nil {
		return Grant{}, storage.Ef("return delegation", storage.Invalid, r.Owner, err)
	}
	if !filepath.IsAbs(r.Out) {
		return Grant{}, storage.Ef("return delegation", storage.Invalid, r.Out, errors.New("the file to write must be an absolute path"))
	}
	var owner [32]byte
	copy(owner[:], sign)
	b, err := k.KV.Get(ctx, keeperKey(owner))
	if err != nil {
		return Grant{}, storage.Ef("return delegation", storage.NotExist, r.Owner, errors.New("no capability of this user is kept here"))
	}
	var st kept
	if err := json.Unmarshal(b, &st); err != nil {
		return Grant{}, storage.E("return delegation", storage.Corrupt, err)
	}
	c, cert, err := Decode(st.Text)
	if err != nil {
		return Grant{}, err
	}
	if err := writeFile(r.Out, c); err != nil {
		return Grant{}, err
	}
	g := grantOf(cert, c, r.Out)
	g.Checked, g.Repaired = st.Checked, st.Repaired
	return g, nil
}

// Round audits and repairs every capability kept whose certificate is
// still valid, and saves the placement changes: the Keeper's loop body.
func (k *Keeper) Round(ctx context.Context) {
	logf := k.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	err := k.each(ctx, func(owner [32]byte, c *blob.Capability, cert *audit.Cert, st kept) error {
		if cert.Valid(time.Now()) != nil {
			return nil // expired: its leases run out, as the owner meant
		}
		h, changed, err := k.check(ctx, owner, c)
		if err != nil {
			logf("delegation of %x: %v", owner[:6], err)
			return nil
		}
		st.Checked = time.Now()
		for _, ch := range h.Chunks {
			if ch.Repaired {
				st.Repaired++
			}
			if ch.Err != nil {
				logf("delegation of %x: a chunk due for repair waits: %v", owner[:6], ch.Err)
			}
		}
		if changed {
			logf("delegation of %x: %d chunks repaired", owner[:6], st.Repaired)
		}
		return k.save(ctx, owner, c, st)
	})
	if err != nil && ctx.Err() == nil {
		logf("delegations: %v", err)
	}
}

func (k *Keeper) check(ctx context.Context, owner [32]byte, c *blob.Capability) (*blob.Health, bool, error) {
	ac, err := audit.NewClient(k.Host, k.Key).Delegated(c.Cert)
	if err != nil {
		return nil, false, err
	}
	fc, err := fragment.NewDelegateClient(k.Host, k.Key, c.Cert)
	if err != nil {
		return nil, false, err
	}
	cfg := k.Blob
	net := ownerNet{peers: k.Peers, fc: fc, self: k.Self, local: k.Local}
	cfg.Network = net
	cfg.Secret = cryptree.ChunkSecret{} // never used: repair opens nothing
	bc, err := blob.New(cfg)
	if err != nil {
		return nil, false, err
	}
	o := k.Check(selfAuditor{ac.Auditor(audit.DefaultLeaves), net})
	o.Repair = true
	return bc.CheckCapability(ctx, c, o)
}

// ownerNet is the network as the delegate's repairs see it: PUTs in the
// owner's name, and this node's own store for the fragments it holds.
type ownerNet struct {
	peers func(ctx context.Context) ([]storage.PeerInfo, error)
	fc    *fragment.Client
	self  storage.PeerID
	local storage.FragmentStore
}

func (n ownerNet) Peers(ctx context.Context) ([]storage.PeerInfo, error) { return n.peers(ctx) }

func (n ownerNet) Store(p storage.PeerID) storage.FragmentStore {
	if p == n.self && n.local != nil {
		return n.local
	}
	return n.fc.Store(p)
}

// selfAuditor audits the fragments this node holds by reading them: the
// local store verifies what it returns, and the root is checked again.
type selfAuditor struct {
	storage.Auditor
	net ownerNet
}

func (a selfAuditor) Audit(ctx context.Context, p storage.PeerID, ref storage.Ref) error {
	if p != a.net.self || a.net.local == nil {
		return a.Auditor.Audit(ctx, p, ref)
	}
	b, err := a.net.local.Get(ctx, ref)
	if err == nil && storage.Ref(erasure.Root(b)) != ref {
		err = storage.E("audit", storage.Corrupt, errors.New("held copy does not match its ref"))
	}
	return err
}
