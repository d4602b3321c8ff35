package audit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-storage/cairn/erasure"
	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// Window is how far a PROVE request's time may be from the server's
// clock, either way: it bounds the replay of a captured request.
const Window = 5 * time.Minute

// Deadlines of the protocol, both sides: a request and its answer are
// small (at most MaxLeaves proofs of about 9 KiB).
var Deadlines = proto.Deadlines{Header: 30 * time.Second, Idle: 30 * time.Second}

// ServiceConfig configures a Service. Store and Authorized are required.
type ServiceConfig struct {
	// Store holds the fragments this peer keeps for others.
	Store storage.FragmentStore
	// Authorized reports whether owner (an Ed25519 public key) is an
	// owner of ref here, one that asked this peer to keep it: a PROVE
	// is answered for such an auditor only, a PROVE-DELEGATED for the
	// delegate of such an owner only. An audit is also the renewal of
	// the fragment's lease, so strangers get Permission.
	Authorized func(ctx context.Context, ref storage.Ref, owner [32]byte) (bool, error)
	// Renewed, if set, is told of every audit answered, for the lease
	// of ref held by owner (the auditor, or the owner who delegated):
	// collected when no audit renews it for the lease period.
	Renewed func(ctx context.Context, ref storage.Ref, owner [32]byte, at time.Time)
	// Revocations keeps, per owner, the highest serial its REVOKEs
	// named: 8 bytes per owner that ever revoked here. Nil: this peer
	// takes no delegations (PROVE-DELEGATED and REVOKE get Permission).
	Revocations storage.KV
	// MayRevoke reports whether owner may write a revocation here: an
	// owner of at least one fragment, so that strangers cannot fill
	// Revocations. Required with Revocations.
	MayRevoke func(ctx context.Context, owner [32]byte) (bool, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logf logs refusals; nil discards.
	Logf func(format string, args ...any)
}

// Service is the holder's side: it proves, leaf by leaf, that it holds the
// fragments it was given. Safe for concurrent use.
type Service struct {
	cfg    ServiceConfig
	self   []byte // this peer's ID, raw: what requests are signed for
	server *proto.Server[request]

	revokeMu sync.Mutex // serializes the read-and-raise of a revocation
}

// NewService registers the protocol's handler on h. Close removes it.
func NewService(h host.Host, cfg ServiceConfig) (*Service, error) {
	if cfg.Store == nil || cfg.Authorized == nil {
		return nil, storage.E("audit service", storage.Invalid, errors.New("missing store or authorization"))
	}
	if cfg.Revocations != nil && cfg.MayRevoke == nil {
		return nil, storage.E("audit service", storage.Invalid, errors.New("revocations without MayRevoke"))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	s := &Service{cfg: cfg, self: []byte(h.ID())}
	s.server = proto.NewServer(h, proto.ServerConfig[request]{
		Protocol:  ProtocolID,
		Service:   ServiceName,
		Name:      "audit service",
		Table:     statuses,
		Deadlines: Deadlines,
		Read:      readRequest,
		Handle:    s.serve,
		Logf:      cfg.Logf,
	})
	return s, nil
}

// Close removes the handler and waits for the requests being answered.
func (s *Service) Close() { s.server.Close() }

func (s *Service) serve(x *proto.Exchange, req *request) ([]byte, error) {
	op := "prove"
	switch req.Op {
	case opProveDelegated:
		op = "prove delegated"
	case opRevoke:
		op = "revoke"
	}
	x.Op = op
	if err := proto.CheckTime(op, s.cfg.Now(), req.Time, Window); err != nil {
		return nil, err
	}
	if !req.verify(s.self) {
		return nil, storage.E(op, storage.Permission, errors.New("bad signature"))
	}
	if req.Op == opRevoke {
		return nil, s.revoke(x.Ctx, req)
	}
	owner := req.Auditor
	if req.Op == opProveDelegated {
		c, err := s.delegation(x.Ctx, req)
		if err != nil {
			return nil, err
		}
		owner = c.Owner
	}
	ok, err := s.cfg.Authorized(x.Ctx, req.Ref, owner)
	if err != nil {
		return nil, storage.E(op, storage.IO, err)
	}
	if !ok {
		// A fragment not held at all is not found, whoever asks (a GET
		// would say as much): an owner whose holder lost everything,
		// its records of owners with it (a wiped database), sees a
		// failed audit, not a refusal it could not tell from a
		// stranger's.
		if held, herr := s.cfg.Store.Has(x.Ctx, req.Ref); herr == nil && !held {
			return nil, storage.E(op, storage.NotExist, errors.New("no such fragment here"))
		}
		return nil, storage.E(op, storage.Permission, errors.New("not an owner of this fragment, nor its delegate"))
	}
	data, err := s.cfg.Store.Get(x.Ctx, req.Ref)
	if err != nil {
		if k := storage.KindOf(err); k != storage.NotExist && k != storage.Corrupt {
			err = storage.E(op, storage.IO, err)
		}
		return nil, err
	}
	idx := Indices(req.Nonce, req.Ref, int64(len(data)), int(req.Leaves))
	proofs := make([]*erasure.Proof, len(idx))
	for j, i := range idx {
		if proofs[j], err = erasure.Prove(data, i); err != nil {
			return nil, storage.E(op, storage.IO, err)
		}
	}
	if s.cfg.Renewed != nil {
		s.cfg.Renewed(x.Ctx, req.Ref, owner, s.cfg.Now())
	}
	body, err := appendProofs(nil, proofs)
	if err != nil {
		return nil, storage.E(op, storage.IO, err)
	}
	return body, nil
}

// delegation checks the certificate of a PROVE-DELEGATED whose signature
// checked out: the owner's signature, its delegate is the auditor, its
// time, and its serial not revoked here. It returns the certificate.
func (s *Service) delegation(ctx context.Context, req *request) (*Cert, error) {
	const op = "prove delegated"
	if s.cfg.Revocations == nil {
		return nil, storage.E(op, storage.Permission, errors.New("this holder takes no delegations"))
	}
	c, err := ParseCert(req.Cert[:])
	if err != nil {
		return nil, storage.E(op, storage.Permission, err)
	}
	if c.Delegate != req.Auditor {
		return nil, storage.E(op, storage.Permission, errors.New("the delegation names another delegate"))
	}
	if err := c.Valid(s.cfg.Now()); err != nil {
		return nil, storage.E(op, storage.Permission, err)
	}
	through, ok, err := s.revokedThrough(ctx, &c.Owner)
	if err != nil {
		return nil, storage.E(op, storage.IO, err)
	}
	if ok && c.Serial <= through {
		return nil, storage.E(op, storage.Permission, fmt.Errorf("delegation %d revoked (the owner revoked up to %d)", c.Serial, through))
	}
	return c, nil
}

// revocationKey is where the owner's revocation is kept.
func revocationKey(owner *[32]byte) []byte { return append([]byte("revoked/"), owner[:]...) }

// Revoked reports whether owner revoked its certificate numbered serial
// at the peer whose revocations kv keeps (ServiceConfig.Revocations): for
// another service that takes the same certificates (network/fragment's
// delegated PUTs), so that one REVOKE voids a delegation for both.
func Revoked(ctx context.Context, kv storage.KV, owner [32]byte, serial uint64) (bool, error) {
	through, ok, err := revokedThrough(ctx, kv, &owner)
	return ok && serial <= through, err
}

// revokedThrough returns the highest serial owner revoked here, if any.
func (s *Service) revokedThrough(ctx context.Context, owner *[32]byte) (uint64, bool, error) {
	return revokedThrough(ctx, s.cfg.Revocations, owner)
}

func revokedThrough(ctx context.Context, kv storage.KV, owner *[32]byte) (uint64, bool, error) {
	v, err := kv.Get(ctx, revocationKey(owner))
	switch {
	case errors.Is(err, storage.NotExist):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	case len(v) != 8:
		return 0, false, fmt.Errorf("revocation of %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// revoke records a REVOKE whose signature checked out: the owner's
// serial, raised to req.Serial (never lowered).
func (s *Service) revoke(ctx context.Context, req *request) error {
	const op = "revoke"
	if s.cfg.Revocations == nil {
		return storage.E(op, storage.Permission, errors.New("this holder takes no delegations"))
	}
	ok, err := s.cfg.MayRevoke(ctx, req.Owner)
	if err != nil {
		return storage.E(op, storage.IO, err)
	}
	if !ok {
		return storage.E(op, storage.Permission, errors.New("keeps nothing here for this owner"))
	}
	s.revokeMu.Lock()
	defer s.revokeMu.Unlock()
	through, had, err := s.revokedThrough(ctx, &req.Owner)
	if err != nil {
		return storage.E(op, storage.IO, err)
	}
	if had && req.Serial <= through {
		return nil
	}
	if err := s.cfg.Revocations.Set(ctx, revocationKey(&req.Owner), binary.BigEndian.AppendUint64(nil, req.Serial)); err != nil {
		return storage.E(op, storage.IO, err)
	}
	return nil
}

// self returns the raw bytes of a peer ID, as requests are signed for.
func rawID(p storage.PeerID) ([]byte, error) {
	id, err := peer.Decode(string(p))
	if err != nil {
		return nil, storage.Ef("audit", storage.Invalid, p.Short(), err)
	}
	return []byte(id), nil
}
