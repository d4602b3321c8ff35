package proto

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
)

// Two tables as the protocols declare them: the same mechanism, a
// different code 4.
var (
	corruptTable = NewTable(Entry{Status: 4, Name: "corrupt", Kind: storage.Corrupt, Fixed: true, Text: "held copy failed"})
	staleTable   = NewTable(Entry{Status: 4, Name: "stale", Kind: storage.Exist})
)

func TestTableBothWays(t *testing.T) {
	for _, tc := range []struct {
		s      Status
		kind   storage.Kind
		kind4  storage.Kind // in staleTable, where it differs
		differ bool
	}{
		{OK, storage.Other, 0, false},
		{NotFound, storage.NotExist, 0, false},
		{Quota, storage.Quota, 0, false},
		{Invalid, storage.Invalid, 0, false},
		{4, storage.Corrupt, storage.Exist, true},
		{Permission, storage.Permission, 0, false},
		{Internal, storage.IO, 0, false},
		{Busy, storage.Unavailable, 0, false},
		{8, storage.Other, 0, false},
		{255, storage.Other, 0, false},
	} {
		want4 := tc.kind
		if tc.differ {
			want4 = tc.kind4
		}
		if k := corruptTable.Kind(tc.s); k != tc.kind {
			t.Errorf("corrupt table: status %d is %v, want %v", tc.s, k, tc.kind)
		}
		if k := staleTable.Kind(tc.s); k != want4 {
			t.Errorf("stale table: status %d is %v, want %v", tc.s, k, want4)
		}
		if tc.s != OK && tc.kind != storage.Other {
			if s := corruptTable.Of(storage.E("x", tc.kind, nil)); s != tc.s {
				t.Errorf("corrupt table: kind %v answers %d, want %d", tc.kind, s, tc.s)
			}
			if s := staleTable.Of(storage.E("x", want4, nil)); s != tc.s {
				t.Errorf("stale table: kind %v answers %d, want %d", want4, s, tc.s)
			}
		}
	}
	for _, err := range []error{errors.New("plain"), storage.E("x", storage.CannotDecrypt, nil), storage.E("x", storage.Exist, nil)} {
		if s := corruptTable.Of(err); s != Internal {
			t.Errorf("corrupt table: %v answers %d, want internal", err, s)
		}
	}
	if s := staleTable.Of(storage.E("x", storage.Corrupt, nil)); s != Internal {
		t.Errorf("stale table: a corrupt error answers %d, want internal", s)
	}
	if s := corruptTable.Of(nil); s != OK {
		t.Errorf("nil answers %d", s)
	}
}

func TestTableText(t *testing.T) {
	secret := storage.E("get", storage.Corrupt, errors.New("segment 7 at offset 4096"))
	if r := corruptTable.Answer(secret); r.Status != 4 || r.Text != "held copy failed" {
		t.Errorf("corrupt answer %+v: the fixed text must replace the error", r)
	}
	if r := corruptTable.Answer(storage.E("db", storage.IO, errors.New("disk /dev/sda1"))); r.Status != Internal || r.Text != "internal error" {
		t.Errorf("internal answer %+v", r)
	}
	if r := corruptTable.Answer(storage.E("get", storage.NotExist, errors.New("ref abc"))); r.Text != "" {
		t.Errorf("not-found answer %+v: no text", r)
	}
	if r := staleTable.Answer(storage.E("put", storage.Exist, errors.New("a better record is held"))); r.Status != 4 || !strings.Contains(r.Text, "better record") {
		t.Errorf("stale answer %+v", r)
	}
}

func TestTableError(t *testing.T) {
	for _, tc := range []struct {
		r    Response
		want storage.Kind
		says string
	}{
		{Response{Status: Quota, Text: "full\x1b[31m"}, storage.Quota, `"full\x1b[31m"`},
		{Response{Status: 4}, storage.Exist, "already exists"},
		{Response{Status: 99}, storage.Other, "unknown status 99"},
	} {
		err := staleTable.Error("put record", "12D3KooWpeerpeer", &tc.r)
		if storage.KindOf(err) != tc.want || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%+v gives %q (%v), want kind %v saying %s", tc.r, err, storage.KindOf(err), tc.want, tc.says)
		}
	}
}

func TestNewTableRefusesDuplicates(t *testing.T) {
	for _, own := range [][]Entry{
		{{Status: Quota, Kind: storage.Exist}}, // a common status again
		{{Status: 4, Kind: storage.Quota}},     // a common kind again
		{{Status: 4, Kind: storage.Exist}, {Status: 8, Kind: storage.Corrupt}, {Status: 4, Kind: storage.Canceled}}, // its own twice
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewTable(%+v) did not panic", own)
				}
			}()
			NewTable(own...)
		}()
	}
}

func TestResponseFrame(t *testing.T) {
	long := strings.Repeat("x", 300)
	r := Response{Status: Permission, Text: long, Body: []byte("body")}
	b := r.Append(nil)
	if len(b) != HeaderSize+MaxText+4 {
		t.Fatalf("frame of %d bytes", len(b))
	}
	got, err := ReadResponse(bytes.NewReader(b), 4)
	if err != nil || got.Status != Permission || got.Text != long[:MaxText] || string(got.Body) != "body" || got.Len != 4 {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if _, err := ReadResponse(bytes.NewReader(b), 3); storage.KindOf(err) != storage.Corrupt {
		t.Fatalf("body over the cap: %v, want Corrupt", err)
	}
	for n := range len(b) {
		if _, err := ReadResponse(bytes.NewReader(b[:n]), 4); err == nil || storage.KindOf(err) != storage.Other {
			t.Fatalf("truncated to %d: %v, want the reader's error", n, err)
		}
	}
}

func TestReadBodyGrows(t *testing.T) {
	n := 3*BodyStep + 5
	data := bytes.Repeat([]byte{7}, n)
	got, err := ReadBody(bytes.NewReader(data), n)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	// A peer that declares much and sends little costs one step.
	got, err = ReadBody(bytes.NewReader(data[:10]), 16<<20)
	if err == nil || len(got) != 10 || cap(got) > BodyStep {
		t.Fatalf("short body: %d bytes (cap %d), %v", len(got), cap(got), err)
	}
}

func TestSignedMessage(t *testing.T) {
	got := SignedMessage("d\x00", []byte{0xaa, 0xbb}, []byte{1}, nil, []byte{2, 3})
	want := []byte{'d', 0, 0, 2, 0xaa, 0xbb, 1, 2, 3}
	if !bytes.Equal(got, want) {
		t.Fatalf("% x, want % x", got, want)
	}
}

func TestCheckTime(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		at int64
		ok bool
	}{{1700000000, true}, {1700000300, true}, {1699999700, true}, {1700000301, false}, {1699999699, false}, {-1 << 63, false}, {1<<63 - 1, false}} {
		err := CheckTime("delete", now, tc.at, 5*time.Minute)
		if (err == nil) != tc.ok || err != nil && storage.KindOf(err) != storage.Invalid {
			t.Errorf("time %d: %v", tc.at, err)
		}
	}
}
