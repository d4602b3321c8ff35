package cryptree

import "crypto/ed25519"

// SenderLen is the length of what SenderOf returns.
const SenderLen = len(userIDPrefix) + 16

// SenderOf returns how a user who is known only by their signing key (the
// sender of a sealed message, OpenFrom) is shown: the first SenderLen
// characters of their user id, which FormatUserID(sign, box) begins with
// whatever box is. sign must be ed25519.PublicKeySize bytes; it panics
// otherwise (a programming error).
func SenderOf(sign ed25519.PublicKey) string {
	if len(sign) != ed25519.PublicKeySize {
		panic("cryptree: SenderOf: bad ed25519 public key length")
	}
	return userIDPrefix + b32lower.EncodeToString(sign[:10])
}
