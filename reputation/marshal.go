package reputation

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// The Book's state on disk:
//
//	book  = "CRB\x01" ‖ uvarint(n) ‖ n × peer, peers in id order
//	peer  = string(id) ‖ f64 alpha ‖ f64 beta ‖ uvarint passed ‖
//	        uvarint failed ‖ f64 on ‖ f64 off ‖ time probedAt ‖ f64 txOK ‖
//	        f64 txRate ‖ uvarint transfers ‖ time firstSeen ‖
//	        time lastAudit ‖ u8 state ‖ string reason ‖ u8 flags
//	        (bit 0 audited, bit 1 probed)
//	string = uvarint(len) ‖ bytes; f64 = IEEE 754 big-endian;
//	time = varint Unix nanoseconds (0 for the zero time)
const (
	bookMagic = "CRB\x01"
	maxPeers  = 1 << 20
	maxString = 1 << 10
)

// ErrFormat is what UnmarshalBinary returns for bytes it cannot read.
var ErrFormat = errors.New("reputation: not a reputation book, or a damaged one")

// MarshalBinary returns the Book's state (not its Config).
func (b *Book) MarshalBinary() ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []byte(bookMagic)
	ids := make([]string, 0, len(b.peers))
	for id := range b.peers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out = binary.AppendUvarint(out, uint64(len(ids)))
	for _, id := range ids {
		p := b.peers[id]
		out = appendString(out, id)
		out = appendF64(out, p.alpha)
		out = appendF64(out, p.beta)
		out = binary.AppendUvarint(out, uint64(p.passed))
		out = binary.AppendUvarint(out, uint64(p.failed))
		out = appendF64(out, p.on)
		out = appendF64(out, p.off)
		out = appendTime(out, p.probedAt)
		out = appendF64(out, p.txOK)
		out = appendF64(out, p.txRate)
		out = binary.AppendUvarint(out, uint64(p.transfers))
		out = appendTime(out, p.firstSeen)
		out = appendTime(out, p.lastAudit)
		out = append(out, byte(p.state))
		out = appendString(out, p.reason)
		var flags byte
		if p.audited {
			flags |= 1
		}
		if p.probedAtLeast {
			flags |= 2
		}
		out = append(out, flags)
	}
	return out, nil
}

// UnmarshalBinary replaces the Book's state with one MarshalBinary made.
// Anything else is ErrFormat, and the Book is left as it was.
func (b *Book) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if len(data) < len(bookMagic) || string(data[:len(bookMagic)]) != bookMagic {
		return fmt.Errorf("%w: bad magic", ErrFormat)
	}
	d.b = data[len(bookMagic):]
	n := d.uint(maxPeers)
	peers := make(map[string]*peer, min(n, 1024))
	for i := uint64(0); i < n && d.err == nil; i++ {
		id := d.string()
		p := &peer{}
		p.alpha, p.beta = d.f64(), d.f64()
		p.passed, p.failed = int(d.uint(math.MaxInt32)), int(d.uint(math.MaxInt32))
		p.on, p.off = d.f64(), d.f64()
		p.probedAt = d.time()
		p.txOK, p.txRate = d.f64(), d.f64()
		p.transfers = int(d.uint(math.MaxInt32))
		p.firstSeen, p.lastAudit = d.time(), d.time()
		st := d.byte()
		p.reason = d.string()
		flags := d.byte()
		if d.err != nil {
			break
		}
		switch {
		case st > byte(Excluded) || flags > 3:
			d.fail("bad state or flags")
		case !(p.alpha > 0) || !(p.beta >= 0) || !(p.on >= 0) || !(p.off >= 0) ||
			!(p.txOK >= 0 && p.txOK <= 1) || !(p.txRate >= 0) ||
			math.IsInf(p.alpha+p.beta+p.on+p.off+p.txRate, 0):
			d.fail("a figure out of range")
		case peers[id] != nil:
			d.fail("a peer twice")
		}
		p.state = State(st)
		p.audited, p.probedAtLeast = flags&1 != 0, flags&2 != 0
		peers[id] = p
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return d.err
	}
	b.mu.Lock()
	b.peers = peers
	b.mu.Unlock()
	return nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendF64(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decoder reads the format above; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(why string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrFormat, why)
	}
}

func (d *decoder) uint(max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > max {
		d.fail("bad count")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uint(maxString)
	if d.err != nil || uint64(len(d.b)) < n {
		d.fail("short string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) f64() float64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail("short number")
		return 0
	}
	f := math.Float64frombits(binary.BigEndian.Uint64(d.b))
	d.b = d.b[8:]
	return f
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("short")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) time() time.Time {
	if d.err != nil {
		return time.Time{}
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad time")
		return time.Time{}
	}
	d.b = d.b[n:]
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}
