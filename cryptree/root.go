package cryptree

import "crypto/ed25519"

// HKDF info strings of the root folder (SPEC.md §16). Never change their
// meaning.
const (
	infoRootSigning = "cairn keyring v1 root-folder ed25519"
	infoRootWK      = "cairn keyring v1 root-folder wk"
	infoRootSK      = "cairn keyring v1 root-folder sk"
	infoRootFK      = "cairn keyring v1 root-folder fk"
	infoRootDK      = "cairn keyring v1 root-folder dk"
	infoRootBK      = "cairn keyring v1 root-folder bk"
)

// RootFolder returns the read and write keys of the user's root folder, derived
// from the root secret (SPEC.md §16), so a recovered keyring finds its
// drive again: the root's ID is Writer.ID(). These keys never rotate, so
// the root folder itself must not be shared (share its subfolders). The
// Writer's Sign is a new slice the caller owns.
func (k *Keyring) RootFolder() (FolderKeys, Writer) {
	var seed [32]byte
	derive(k.Root, infoRootSigning, seed[:])
	var w Writer
	w.Sign = ed25519.NewKeyFromSeed(seed[:])
	derive(k.Root, infoRootWK, w.WK[:])
	var fk FolderKeys
	derive(k.Root, infoRootSK, fk.SK[:])
	derive(k.Root, infoRootFK, fk.FK[:])
	derive(k.Root, infoRootDK, fk.DK[:])
	derive(k.Root, infoRootBK, fk.BK[:])
	return fk, w
}
