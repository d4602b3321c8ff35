package cryptree

import (
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"
)

// enc appends big-endian fields to a byte slice.
type enc struct{ b []byte }

func (e *enc) u8(x byte)         { e.b = append(e.b, x) }
func (e *enc) u16(x uint16)      { e.b = binary.BigEndian.AppendUint16(e.b, x) }
func (e *enc) u32(x uint32)      { e.b = binary.BigEndian.AppendUint32(e.b, x) }
func (e *enc) u64(x uint64)      { e.b = binary.BigEndian.AppendUint64(e.b, x) }
func (e *enc) raw(x []byte)      { e.b = append(e.b, x...) }
func (e *enc) str8(s string)     { e.u8(byte(len(s))); e.b = append(e.b, s...) }
func (e *enc) bytes32(x []byte)  { e.u32(uint32(len(x))); e.raw(x) }
func (e *enc) time(t time.Time)  { e.u64(uint64(t.Unix())); e.u32(uint32(t.Nanosecond())) }
func (e *enc) bool(x bool)       { e.u8(boolByte(x)) }
func (e *enc) label(l *[16]byte) { e.raw(l[:]) }
func (e *enc) key(k *Key)        { e.raw(k[:]) }
func boolByte(x bool) byte {
	if x {
		return 1
	}
	return 0
}

// dec reads big-endian fields; the first failure sticks in err and every
// later read returns zero values.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(reason string) {
	if d.err == nil {
		d.err = invalid(reason)
	}
}

func (d *dec) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail(what + " is truncated")
		return nil
	}
	x := d.b[:n:n]
	d.b = d.b[n:]
	return x
}

func (d *dec) u8(what string) byte {
	if x := d.take(1, what); x != nil {
		return x[0]
	}
	return 0
}

func (d *dec) u16(what string) uint16 {
	if x := d.take(2, what); x != nil {
		return binary.BigEndian.Uint16(x)
	}
	return 0
}

func (d *dec) u32(what string) uint32 {
	if x := d.take(4, what); x != nil {
		return binary.BigEndian.Uint32(x)
	}
	return 0
}

func (d *dec) u64(what string) uint64 {
	if x := d.take(8, what); x != nil {
		return binary.BigEndian.Uint64(x)
	}
	return 0
}

func (d *dec) bool(what string) bool {
	switch d.u8(what) {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(what + " is not 0 or 1")
	return false
}

func (d *dec) label(what string) (l [16]byte) {
	copy(l[:], d.take(16, what))
	return l
}

func (d *dec) key(what string) (k Key) {
	copy(k[:], d.take(16, what))
	return k
}

func (d *dec) id(what string) (id FolderID) {
	copy(id[:], d.take(32, what))
	return id
}

// bytes32 reads a u32 length and that many bytes, at most max.
func (d *dec) bytes32(max int, what string) []byte {
	n := d.u32(what + " length")
	if d.err == nil && uint64(n) > uint64(max) {
		d.fail(what + " is too long")
		return nil
	}
	return d.take(int(n), what)
}

// str8 reads a u8 length and that many bytes as a string.
func (d *dec) str8(what string) string {
	n := d.u8(what + " length")
	return string(d.take(int(n), what))
}

func (d *dec) time(what string) time.Time {
	sec := int64(d.u64(what))
	nsec := d.u32(what)
	if d.err == nil && nsec >= 1e9 {
		d.fail(what + " has more than 1e9 nanoseconds")
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// end fails unless every byte was read.
func (d *dec) end(what string) {
	if d.err == nil && len(d.b) != 0 {
		d.fail(what + " has trailing bytes")
	}
}

// MaxName is the longest name of a file or folder, in bytes.
const MaxName = 255

// ValidName reports whether name may name a file or folder (SPEC.md §9):
// valid UTF-8 of 1..MaxName bytes, not "." or "..", with no '/', no '\'
// and no control character (C0 U+0000–U+001F, DEL U+007F, C1
// U+0080–U+009F). Names come from other people's folders and become local
// file names and terminal output, so a reader checks them as strictly as a
// writer. It returns ErrInvalid with a reason otherwise.
func ValidName(name string) error {
	switch {
	case name == "":
		return invalid("empty name")
	case len(name) > MaxName:
		return invalid("name longer than 255 bytes")
	case name == "." || name == "..":
		return invalid("name is . or ..")
	case !utf8.ValidString(name):
		return invalid("name is not valid UTF-8")
	}
	for _, r := range name {
		switch {
		case r == '/':
			return invalid("name contains '/'")
		case r == '\\':
			return invalid("name contains '\\'")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return invalid(fmt.Sprintf("name contains the control character %U", r))
		}
	}
	return nil
}
