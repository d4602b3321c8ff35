package proto

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/cairn-storage/cairn/storage"
)

const (
	// HeaderSize is the fixed part of a response: status (1) · text
	// length (1) · body length (4).
	HeaderSize = 6
	// MaxText caps the human-readable text of a response.
	MaxText = 255
	// BodyStep is how much of a body is allocated before its bytes
	// arrive: a body up to it gets one allocation of its exact size; a
	// longer one grows as it comes in, so a peer that declares 16 MiB and
	// sends nothing costs the reader 1 MiB.
	BodyStep = 1 << 20
)

// Response is one response: a status, text for people (untrusted) and a
// body of Len bytes.
type Response struct {
	Status Status
	Text   string
	Len    uint32 // body length; Body, once read, has this length
	Body   []byte
}

// AppendHeader appends status, lengths and text (not the body), with Len
// as the body length. Text is cut to MaxText bytes.
func (r *Response) AppendHeader(b []byte) []byte {
	text := r.Text
	if len(text) > MaxText {
		text = text[:MaxText]
	}
	b = append(b, byte(r.Status), byte(len(text)))
	b = binary.BigEndian.AppendUint32(b, r.Len)
	return append(b, text...)
}

// Append appends the whole response with Body, whatever Len says.
func (r *Response) Append(b []byte) []byte {
	h := *r
	h.Len = uint32(len(r.Body))
	return append(h.AppendHeader(b), r.Body...)
}

// Malformed is an error of kind for a request or response that breaks the
// format.
func Malformed(op string, kind storage.Kind, format string, args ...any) error {
	return storage.E(op, kind, fmt.Errorf(format, args...))
}

// ReadResponseHeader reads status, lengths and text. A body length over
// maxBody is Corrupt, before anything is read past the header; reader
// errors (EOF, reset, deadline) come back as they are.
func ReadResponseHeader(rd io.Reader, maxBody uint32) (Response, error) {
	var r Response
	var h [HeaderSize + MaxText]byte
	if _, err := io.ReadFull(rd, h[:HeaderSize]); err != nil {
		return r, err
	}
	r.Status = Status(h[0])
	tl := int(h[1])
	r.Len = binary.BigEndian.Uint32(h[2:6])
	if r.Len > maxBody {
		return r, Malformed("read response", storage.Corrupt, "body of %d bytes is over the cap of %d", r.Len, maxBody)
	}
	if tl > 0 {
		t := h[HeaderSize : HeaderSize+tl]
		if _, err := io.ReadFull(rd, t); err != nil {
			return r, err
		}
		r.Text = string(t)
	}
	return r, nil
}

// ReadResponse reads a whole response, allocating its body only after its
// length has passed maxBody.
func ReadResponse(rd io.Reader, maxBody uint32) (Response, error) {
	r, err := ReadResponseHeader(rd, maxBody)
	if err != nil {
		return r, err
	}
	r.Body, err = ReadBody(rd, int(r.Len))
	return r, err
}

// ReadBody reads exactly n bytes (n already checked against its cap),
// allocating at most BodyStep ahead of what has arrived. A short body
// returns what arrived and the reader's error.
func ReadBody(rd io.Reader, n int) ([]byte, error) {
	if n <= BodyStep {
		b := make([]byte, n)
		_, err := io.ReadFull(rd, b)
		return b, err
	}
	b := make([]byte, 0, BodyStep)
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(cap(b), n-len(b)))
		}
		m, err := io.ReadFull(rd, b[len(b):min(cap(b), n)])
		b = b[:len(b)+m]
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// ReadBodyTo is ReadBody into dst[:n] when cap(dst) >= n (then no
// allocation, and the result aliases dst); otherwise it is ReadBody. n
// must already be checked against its cap.
func ReadBodyTo(rd io.Reader, dst []byte, n int) ([]byte, error) {
	if cap(dst) < n {
		return ReadBody(rd, n)
	}
	b := dst[:n]
	m, err := io.ReadFull(rd, b)
	return b[:m], err
}

// SignedMessage is what a request signed for one server covers:
// domain · uint16 len(server) · server · the fields in order, where
// server is the raw bytes of the receiving peer's ID. Naming the server
// makes a captured request useless at any other.
func SignedMessage(domain string, server []byte, fields ...[]byte) []byte {
	n := len(domain) + 2 + len(server)
	for _, f := range fields {
		n += len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, domain...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(server)))
	b = append(b, server...)
	for _, f := range fields {
		b = append(b, f...)
	}
	return b
}

// CheckTime refuses, with Invalid, a request time (Unix seconds) more
// than window away from now either way: it bounds the replay of a signed
// request to that window.
func CheckTime(op string, now time.Time, unix int64, window time.Duration) error {
	t := time.Unix(unix, 0)
	if t.Before(now.Add(-window)) || t.After(now.Add(window)) {
		return storage.E(op, storage.Invalid, fmt.Errorf("time %d is more than %v from the server's clock", unix, window))
	}
	return nil
}
