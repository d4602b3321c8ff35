package records

import (
	"context"
	"crypto/ed25519"
	"errors"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

// Message is one message of an inbox: the same fields as
// drive.InboxMessage, so one converts to the other.
type Message struct {
	ID   [32]byte
	Data []byte
}

// Inbox reaches inboxes on the pointer services of the Replicas storage
// peers that lead the inbox id's rendezvous order: anyone's for Send, its
// owner's for Fetch and Delete. Safe for concurrent use.
type Inbox struct {
	c    *Client
	self ed25519.PrivateKey
}

// Inbox returns the inbox of the user whose signing key is self (it signs
// deletes); self may be nil for an Inbox that only sends. The key is
// kept, not copied.
func (c *Client) Inbox(self ed25519.PrivateKey) *Inbox { return &Inbox{c: c, self: self} }

func (b *Inbox) own(op string) ([32]byte, error) {
	if len(b.self) != ed25519.PrivateKeySize {
		return [32]byte{}, storage.E(op, storage.Invalid, errors.New("an inbox without its owner's key"))
	}
	return cryptree.InboxID(b.self.Public().(ed25519.PublicKey)), nil
}

// Send leaves msg (a sealed message) in the inbox of the user whose
// signing key is to, on every holder it reaches, one after another.
//
// Errors: Unavailable if no holder took it; the errors of Node.Peers.
func (b *Inbox) Send(ctx context.Context, to ed25519.PublicKey, msg []byte) error {
	inbox := cryptree.InboxID(to)
	hs, err := b.c.holders(ctx, inbox[:])
	if err != nil {
		return err
	}
	took := 0
	var lastErr error
	for _, p := range hs {
		if _, err := b.c.ptr.InboxPut(ctx, p, inbox, msg); err != nil {
			lastErr = err
			continue
		}
		took++
	}
	if took == 0 {
		if lastErr == nil {
			lastErr = errors.New("no storage peer reachable")
		}
		return storage.E("deliver share", storage.Unavailable, lastErr)
	}
	return nil
}

// Fetch returns the messages the holders keep in the owner's inbox, each
// once (the pointer client has checked every one against its id). A
// holder that does not answer is skipped.
//
// Errors: Invalid without the owner's key; the errors of Node.Peers.
func (b *Inbox) Fetch(ctx context.Context) ([]Message, error) {
	inbox, err := b.own("fetch inbox")
	if err != nil {
		return nil, err
	}
	hs, err := b.c.holders(ctx, inbox[:])
	if err != nil {
		return nil, err
	}
	seen := map[[32]byte]bool{}
	var out []Message
	for _, p := range hs {
		msgs, err := b.c.ptr.InboxList(ctx, p, inbox)
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if !seen[m.ID] {
				seen[m.ID] = true
				out = append(out, Message{ID: m.ID, Data: m.Data})
			}
		}
	}
	return out, nil
}

// Delete removes message id from the owner's inbox on every holder,
// signed by the owner; deleting a missing message is not an error, and
// neither is a holder that does not answer.
//
// Errors: Invalid without the owner's key; the errors of Node.Peers.
func (b *Inbox) Delete(ctx context.Context, id [32]byte) error {
	inbox, err := b.own("delete from inbox")
	if err != nil {
		return err
	}
	hs, err := b.c.holders(ctx, inbox[:])
	if err != nil {
		return err
	}
	for _, p := range hs {
		_ = b.c.ptr.InboxDelete(ctx, p, inbox, id, b.self)
	}
	return nil
}
