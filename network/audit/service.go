package audit

import (
	"context"
	"errors"
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
	// Authorized reports whether auditor (an Ed25519 public key) may
	// audit ref here: an owner that asked this peer to keep it, or a
	// delegate the owner named. An audit is also the renewal of the
	// fragment's lease, so strangers get Permission.
	Authorized func(ctx context.Context, ref storage.Ref, auditor [32]byte) (bool, error)
	// Renewed, if set, is told of every audit answered, for the lease
	// of ref: collected when no audit renews it for the lease period.
	Renewed func(ctx context.Context, ref storage.Ref, auditor [32]byte, at time.Time)
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
}

// NewService registers the protocol's handler on h. Close removes it.
func NewService(h host.Host, cfg ServiceConfig) (*Service, error) {
	if cfg.Store == nil || cfg.Authorized == nil {
		return nil, storage.E("audit service", storage.Invalid, errors.New("missing store or authorization"))
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
	const op = "prove"
	x.Op = op
	if err := proto.CheckTime(op, s.cfg.Now(), req.Time, Window); err != nil {
		return nil, err
	}
	if !req.verify(s.self) {
		return nil, storage.E(op, storage.Permission, errors.New("bad signature"))
	}
	ok, err := s.cfg.Authorized(x.Ctx, req.Ref, req.Auditor)
	if err != nil {
		return nil, storage.E(op, storage.IO, err)
	}
	if !ok {
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
		s.cfg.Renewed(x.Ctx, req.Ref, req.Auditor, s.cfg.Now())
	}
	body, err := appendProofs(nil, proofs)
	if err != nil {
		return nil, storage.E(op, storage.IO, err)
	}
	return body, nil
}

// self returns the raw bytes of a peer ID, as requests are signed for.
func rawID(p storage.PeerID) ([]byte, error) {
	id, err := peer.Decode(string(p))
	if err != nil {
		return nil, storage.Ef("audit", storage.Invalid, p.Short(), err)
	}
	return []byte(id), nil
}
