package cryptree

import "errors"

// Errors returned by this package. Callers test them with errors.Is; the
// messages are for people. Failures to open sealed data never say whether the
// key was wrong or the bytes were changed.
var (
	// ErrCannotDecrypt means sealed data did not open: a wrong key, or data
	// that was tampered with, truncated, or of an unknown version.
	ErrCannotDecrypt = errors.New("cryptree: cannot decrypt")

	// ErrInvalid means malformed input (a bad format, a bad checksum, bad
	// parameters). Errors of this kind wrap it with a reason.
	ErrInvalid = errors.New("cryptree: invalid input")

	// ErrWrongPassphrase is returned by ParseKeyringFile when a well-formed
	// keyring file does not open. It wraps ErrCannotDecrypt, so
	// errors.Is(err, ErrCannotDecrypt) holds as well.
	ErrWrongPassphrase error = &kindError{"cryptree: wrong passphrase or damaged keyring", ErrCannotDecrypt}

	// ErrBadSignature means a signed folder record or sealed message did
	// not verify: forged, or changed after signing. It wraps
	// ErrCannotDecrypt, so errors.Is(err, ErrCannotDecrypt) holds as well.
	ErrBadSignature error = &kindError{"cryptree: bad signature", ErrCannotDecrypt}

	// ErrCorruptLink means a string that starts like a cairn:// link failed
	// its checksum or does not decode: it was mistyped or tampered with. It
	// is an integrity failure (the CLI's exit 6), not ErrInvalid.
	ErrCorruptLink = errors.New("cryptree: link is corrupt (checksum mismatch: mistyped or tampered with)")
)

// kindError is an error with its own message that is also its kind.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// invalid returns an ErrInvalid with a reason.
func invalid(reason string) error {
	return &kindError{"cryptree: invalid input: " + reason, ErrInvalid}
}
