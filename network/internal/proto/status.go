package proto

import (
	"fmt"
	"strconv"

	"github.com/cairn-storage/cairn/storage"
)

// Status is the first byte of every response.
type Status uint8

// The statuses every Cairn protocol shares (network/PROTOCOL.md). Code 4
// is each protocol's own.
const (
	OK         Status = 0 // done
	NotFound   Status = 1 // storage.NotExist
	Quota      Status = 2 // storage.Quota: a cap or the admission decision
	Invalid    Status = 3 // storage.Invalid: a malformed request
	Permission Status = 5 // storage.Permission: a bad signature, not the owner
	Internal   Status = 6 // storage.IO: the server's store failed
	Busy       Status = 7 // storage.Unavailable: no resources now
)

// Entry is one row of a status table.
type Entry struct {
	Status Status
	// Name is the status's name in PROTOCOL.md, for messages.
	Name string
	// Kind is the error kind the status stands for, both ways: a client
	// reports it for the status, a server answers an error of that kind
	// with the status.
	Kind storage.Kind
	// Fixed means the server sends Text with this status instead of the
	// error's own words (which may say more than a peer should learn).
	Fixed bool
	Text  string
}

// Table maps one protocol's statuses to error kinds and back. It is
// read-only once built, and safe for concurrent use.
type Table struct {
	rows   [256]*Entry
	byKind map[storage.Kind]Status
}

var common = []Entry{
	{Status: OK, Name: "ok", Kind: storage.Other, Fixed: true},
	{Status: NotFound, Name: "not found", Kind: storage.NotExist, Fixed: true},
	{Status: Quota, Name: "quota", Kind: storage.Quota},
	{Status: Invalid, Name: "invalid", Kind: storage.Invalid},
	{Status: Permission, Name: "permission", Kind: storage.Permission},
	{Status: Internal, Name: "internal", Kind: storage.IO, Fixed: true, Text: "internal error"},
	{Status: Busy, Name: "busy", Kind: storage.Unavailable},
}

// NewTable returns the table of the common statuses with the protocol's
// own rows added. A status or a kind given twice (or one of the common
// ones again) is a programming error: NewTable panics, so a protocol's
// table fails at init, never on a peer's input.
func NewTable(own ...Entry) *Table {
	t := &Table{byKind: map[storage.Kind]Status{}}
	for _, e := range append(append([]Entry(nil), common...), own...) {
		if t.rows[e.Status] != nil {
			panic(fmt.Sprintf("proto: status %d in the table twice", e.Status))
		}
		if _, dup := t.byKind[e.Kind]; dup {
			panic(fmt.Sprintf("proto: kind %v in the table twice", e.Kind))
		}
		t.rows[e.Status] = &e
		t.byKind[e.Kind] = e.Status
	}
	return t
}

// Kind is the error kind a client reports for s: storage.Other for a
// status the table does not know (a newer peer's).
func (t *Table) Kind(s Status) storage.Kind {
	if e := t.rows[s]; e != nil {
		return e.Kind
	}
	return storage.Other
}

// Of is the status a server answers err with: OK for nil, the status of
// err's kind, Internal for a kind the table does not list.
func (t *Table) Of(err error) Status {
	if err == nil {
		return OK
	}
	if s, ok := t.byKind[storage.KindOf(err)]; ok && s != OK {
		return s
	}
	return Internal
}

// Text is what a server sends with s for err: the row's fixed text, or
// the error's words.
func (t *Table) Text(s Status, err error) string {
	if e := t.rows[s]; e != nil && e.Fixed {
		return e.Text
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// Answer is the response header a server sends for err (nil: OK).
func (t *Table) Answer(err error) Response {
	s := t.Of(err)
	return Response{Status: s, Text: t.Text(s, err)}
}

// Error turns a refusal from peer p into an error of the status's kind.
// The peer's text is quoted, never interpreted: it is untrusted.
func (t *Table) Error(op string, p storage.PeerID, r *Response) error {
	k := t.Kind(r.Status)
	var err error
	switch {
	case r.Text != "":
		err = fmt.Errorf("peer says %s", strconv.QuoteToGraphic(r.Text))
	case k == storage.Other:
		err = fmt.Errorf("unknown status %d", r.Status)
	default:
		err = k
	}
	return storage.Ef(op, k, p.Short(), err)
}

// Continues reports whether a stream may carry another request after a
// response with status s: only after ok and not found was the request
// read whole (a refused request may have a body nobody read).
func Continues(s Status) bool { return s == OK || s == NotFound }
