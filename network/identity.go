package network

import (
	"crypto/rand"
	"errors"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairn-storage/cairn/storage"
)

// NewIdentity generates a node identity: an Ed25519 libp2p private key in
// libp2p's marshalled form. The caller keeps it (e.g. in a file in the
// node's home, readable only by its owner) and passes it to Config.Identity.
func NewIdentity() ([]byte, error) {
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, storage.E("new identity", storage.Other, err)
	}
	b, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return nil, storage.E("new identity", storage.Other, err)
	}
	return b, nil
}

// IdentityPeerID returns the peer ID that an identity made by NewIdentity
// gives its node. Bytes that are not a marshalled Ed25519 key give an error
// of Kind Invalid.
func IdentityPeerID(key []byte) (storage.PeerID, error) {
	sk, err := parseIdentity(key)
	if err != nil {
		return "", err
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return "", storage.E("identity", storage.Invalid, err)
	}
	return storage.PeerID(id.String()), nil
}

// parseIdentity decodes a marshalled key; only Ed25519 is accepted, so a
// corrupted or foreign file cannot select an expensive or weak key type.
func parseIdentity(key []byte) (crypto.PrivKey, error) {
	if len(key) == 0 {
		return nil, storage.E("identity", storage.Invalid, errors.New("empty key"))
	}
	if len(key) > 4096 {
		return nil, storage.E("identity", storage.Invalid, errors.New("key too long"))
	}
	sk, err := crypto.UnmarshalPrivateKey(key)
	if err != nil {
		return nil, storage.E("identity", storage.Invalid, err)
	}
	if sk.Type() != crypto.Ed25519 {
		return nil, storage.E("identity", storage.Invalid, errors.New("not an Ed25519 key"))
	}
	return sk, nil
}
