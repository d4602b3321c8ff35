package storage

import (
	"context"
	"errors"
	"strings"
)

// Kind classifies an error. The list only grows: values are never reused.
type Kind uint8

// Kinds of errors. Checked with errors.Is(err, storage.NotExist) and so on.
const (
	Other         Kind = iota // unclassified
	Invalid                   // bad input: arguments, parameters, malformed data from a caller
	NotExist                  // no such fragment, file or folder
	Exist                     // already exists
	Permission                // not allowed: bad signature, not the owner
	CannotDecrypt             // wrong key or tampered ciphertext
	Corrupt                   // integrity check failed on stored or received bytes
	Unavailable               // not enough reachable peers, peer unreachable, daemon not running
	Quota                     // refused by an admission decision: quota exceeded
	IO                        // local disk or database failure
	Canceled                  // the operation was cancelled
	IsDir                     // a file was expected and a folder is there
	NotDir                    // a folder was expected (a path goes through a file)
	NotEmpty                  // a folder to remove without recursion has children
)

var kindNames = [...]string{
	Other:         "error",
	Invalid:       "invalid",
	NotExist:      "not found",
	Exist:         "already exists",
	Permission:    "permission denied",
	CannotDecrypt: "cannot decrypt",
	Corrupt:       "integrity check failed",
	Unavailable:   "unavailable",
	Quota:         "quota exceeded",
	IO:            "I/O error",
	Canceled:      "canceled",
	IsDir:         "is a folder",
	NotDir:        "not a folder",
	NotEmpty:      "folder not empty",
}

// String describes the kind in a few words.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "error"
}

// Error makes a Kind usable as a target of errors.Is.
func (k Kind) Error() string { return k.String() }

// Error is Cairn's error: an operation, a kind, an optional subject (a path,
// a ref, a peer) and the underlying error.
type Error struct {
	Op      string // what was being done: "put", "get fragment"
	Kind    Kind
	Subject string // what it was being done to, if any
	Err     error  // the underlying error, if any
}

// E builds an *Error. If err already carries a Kind and kind is Other, the
// inner kind is kept.
func E(op string, kind Kind, err error) *Error {
	if kind == Other {
		kind = KindOf(err)
	}
	return &Error{Op: op, Kind: kind, Err: err}
}

// Ef is E with a subject.
func Ef(op string, kind Kind, subject string, err error) *Error {
	e := E(op, kind, err)
	e.Subject = subject
	return e
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
	}
	if e.Subject != "" {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString(e.Subject)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Err != nil {
		msg := e.Err.Error()
		b.WriteString(msg)
		// Say the kind unless the inner error already did.
		if e.Kind != Other && !strings.Contains(msg, e.Kind.String()) {
			b.WriteString(" (" + e.Kind.String() + ")")
		}
	} else {
		b.WriteString(e.Kind.String())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is matches a Kind target against e's kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k != Other && k == e.Kind
}

// KindOf returns the kind of the outermost *Error in err's chain that has
// one, Canceled for context errors, and Other otherwise.
func KindOf(err error) Kind {
	if err == nil {
		return Other
	}
	var e *Error
	for cur := err; errors.As(cur, &e); cur = e.Err {
		if e.Kind != Other {
			return e.Kind
		}
		if e.Err == nil {
			break
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Canceled
	}
	return Other
}
