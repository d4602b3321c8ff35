package pointer

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-storage/cairn/network/internal/proto"
	"github.com/cairn-storage/cairn/storage"
)

// Client is the client side of the protocol. Each call takes a stream of
// its own to the peer: an idle one left by an earlier call if there is one,
// else a new one (dialing the peer if needed), so any number may run at
// once from any goroutines. Streams that ended a call with ok or not found
// are kept for reuse (8 per peer, for two thirds of DefaultIdle).
//
// Errors carry the kinds of network/PROTOCOL.md: Unavailable for
// transport failures and deadlines, Canceled when ctx is cancelled,
// Corrupt for an answer that breaks the format, and NotExist, Exist,
// Quota, Invalid, Permission, IO as the peer answers.
type Client struct {
	rt *proto.Client

	// Timeout bounds each stream (0: DefaultTimeout); a call never
	// outlives its ctx either. Set it before the first call.
	Timeout time.Duration
	// Now is the clock that stamps inbox deletes; nil means time.Now.
	// Set it before the first call.
	Now func() time.Time
}

// NewClient returns a client that opens streams from h.
func NewClient(h host.Host) *Client { return &Client{rt: proto.NewClient(h, ProtocolID)} }

// CloseIdle closes every stream kept for reuse.
func (c *Client) CloseIdle() { c.rt.CloseIdle() }

// PutRecord asks peer p to keep value under key. The peer validates it
// with its validator for key's namespace and keeps it if it holds nothing
// for key or if the validator's Select prefers it to what it holds.
//
// Errors: Exist if the peer holds a record its validator prefers (a
// rollback refused; the same value again is not an error); Invalid if
// the value does not validate, the namespace is unknown to the peer, or
// the key or value is over its cap (checked here first: MaxKey,
// MaxRecord); Quota if the peer's admission refuses it. value is not
// retained.
func (c *Client) PutRecord(ctx context.Context, p storage.PeerID, key string, value []byte) error {
	const op = "put record"
	if err := checkKey(op, key); err != nil {
		return err
	}
	if len(value) == 0 || len(value) > MaxRecord {
		return storage.E(op, storage.Invalid, fmt.Errorf("value of %d bytes (1 to %d)", len(value), MaxRecord))
	}
	_, err := c.roundTrip(ctx, op, p, &request{Op: opPutRecord, Key: key, Body: value}, 0)
	return err
}

// GetRecord asks peer p for the record it keeps under key. The value is
// NOT validated here: the caller must check it with the validator of
// key's namespace (and refuse a record older than one it has seen). Its
// size is capped at MaxRecord. The slice belongs to the caller.
//
// Errors: NotExist if the peer keeps nothing under key; Invalid for a
// key over MaxKey.
func (c *Client) GetRecord(ctx context.Context, p storage.PeerID, key string) ([]byte, error) {
	const op = "get record"
	if err := checkKey(op, key); err != nil {
		return nil, err
	}
	resp, err := c.roundTrip(ctx, op, p, &request{Op: opGetRecord, Key: key}, MaxRecord)
	if err != nil {
		return nil, err
	}
	if len(resp.Body) == 0 {
		return nil, storage.Ef(op, storage.Corrupt, p.Short(), errors.New("empty record"))
	}
	return resp.Body, nil
}

// InboxPut leaves msg in inbox at peer p and returns its id,
// MessageID(msg). Putting a message the inbox holds already is not an
// error.
//
// Errors: Quota if the inbox is full (or the peer's admission refuses);
// Invalid for an empty message or one over MaxMessage. msg is not
// retained.
func (c *Client) InboxPut(ctx context.Context, p storage.PeerID, inbox [32]byte, msg []byte) (id [32]byte, err error) {
	const op = "inbox put"
	if len(msg) == 0 || len(msg) > MaxMessage {
		return id, storage.E(op, storage.Invalid, fmt.Errorf("message of %d bytes (1 to %d)", len(msg), MaxMessage))
	}
	id = MessageID(msg)
	resp, err := c.roundTrip(ctx, op, p, &request{Op: opInboxPut, Inbox: inbox, Body: msg}, idSize)
	if err != nil {
		return id, err
	}
	if len(resp.Body) != idSize || [32]byte(resp.Body) != id {
		return id, storage.Ef(op, storage.Corrupt, p.Short(), errors.New("peer answered with another message id"))
	}
	return id, nil
}

// InboxList returns the messages peer p holds in inbox, oldest first, as
// many as fit in MaxList bytes (delete them to see the rest). Every
// message is checked against its id; a lying peer's answer is Corrupt.
// An empty inbox is no messages and no error. Anyone may list an inbox:
// the messages are sealed to its owner.
func (c *Client) InboxList(ctx context.Context, p storage.PeerID, inbox [32]byte) ([]Message, error) {
	const op = "inbox list"
	resp, err := c.roundTrip(ctx, op, p, &request{Op: opInboxList, Inbox: inbox}, MaxList)
	if err != nil {
		return nil, err
	}
	ms, err := parseList(resp.Body)
	if err != nil {
		return nil, storage.Ef(op, storage.Corrupt, p.Short(), err)
	}
	return ms, nil
}

// InboxDelete removes message id from inbox at peer p, signed by the
// inbox's owner (InboxIDOf(owner's public key) must be inbox). Deleting a
// message that is not there is not an error.
//
// Errors: Permission if owner does not own inbox or the peer finds the
// signature bad; Invalid if the clocks differ by more than DeleteWindow
// or owner is not an Ed25519 private key. The client does not keep owner.
func (c *Client) InboxDelete(ctx context.Context, p storage.PeerID, inbox [32]byte, id [32]byte, owner ed25519.PrivateKey) error {
	const op = "inbox delete"
	if len(owner) != ed25519.PrivateKeySize {
		return storage.E(op, storage.Invalid, errors.New("owner is not an Ed25519 private key"))
	}
	pub := owner.Public().(ed25519.PublicKey)
	if InboxIDOf(pub) != inbox {
		return storage.E(op, storage.Permission, errors.New("the key does not own this inbox"))
	}
	pid, err := peer.Decode(string(p))
	if err != nil {
		return storage.Ef(op, storage.Invalid, p.Short(), err)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	req := &request{Op: opInboxDelete, Inbox: inbox, ID: id, Time: now().Unix()}
	copy(req.Owner[:], pub)
	copy(req.Sig[:], ed25519.Sign(owner, deleteMessage([]byte(pid), &inbox, &id, req.Time)))
	_, err = c.roundTrip(ctx, op, p, req, 0)
	return err
}

func checkKey(op, key string) error {
	if len(key) == 0 || len(key) > MaxKey {
		return storage.E(op, storage.Invalid, fmt.Errorf("key of %d bytes (1 to %d)", len(key), MaxKey))
	}
	return nil
}

// roundTrip sends req to p and reads the response, whose body may be at
// most maxBody bytes. A status other than ok comes back as its error.
func (c *Client) roundTrip(ctx context.Context, op string, p storage.PeerID, req *request, maxBody int) (response, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	d := proto.Deadlines{Header: timeout, Idle: DefaultIdle}
	var body []byte
	if req.Op == opPutRecord || req.Op == opInboxPut {
		body = req.Body
	}
	head := req.appendHead(make([]byte, 0, 2+2+MaxKey+4+256))
	resp, err := c.rt.RoundTrip(ctx, op, p, d, head, body, uint32(maxBody))
	if err != nil {
		return response{}, err
	}
	if resp.Status != proto.OK {
		return resp, statuses.Error(op, p, &resp)
	}
	return resp, nil
}
