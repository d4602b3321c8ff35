package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestErrorKinds(t *testing.T) {
	base := E("get fragment", Corrupt, errors.New("root mismatch"))
	wrapped := fmt.Errorf("reading chunk 3: %w", base)
	if !errors.Is(wrapped, Corrupt) {
		t.Fatalf("errors.Is(wrapped, Corrupt) = false")
	}
	if errors.Is(wrapped, NotExist) {
		t.Fatalf("errors.Is(wrapped, NotExist) = true")
	}
	if k := KindOf(wrapped); k != Corrupt {
		t.Fatalf("KindOf = %v, want Corrupt", k)
	}
	outer := E("get", Other, wrapped)
	if k := KindOf(outer); k != Corrupt {
		t.Fatalf("KindOf(outer with Other) = %v, want inner Corrupt", k)
	}
	if k := KindOf(fmt.Errorf("x: %w", context.DeadlineExceeded)); k != Canceled {
		t.Fatalf("KindOf(deadline) = %v, want Canceled", k)
	}
	if got := Ef("put", NotExist, "/a.txt", nil).Error(); got != "put /a.txt: not found" {
		t.Fatalf("Error() = %q", got)
	}
	if got := base.Error(); got != "get fragment: root mismatch (integrity check failed)" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestRefRoundTrip(t *testing.T) {
	var r Ref
	for i := range r {
		r[i] = byte(i * 7)
	}
	got, err := ParseRef(r.String())
	if err != nil || got != r {
		t.Fatalf("ParseRef(String()) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "zz", r.String()[:63] + "g"} {
		if _, err := ParseRef(bad); !errors.Is(err, Invalid) {
			t.Errorf("ParseRef(%q) err = %v, want Invalid", bad, err)
		}
	}
}

// Kinds cross the daemon's socket as numbers: they only grow, and a
// value never changes its meaning.
func TestKindValues(t *testing.T) {
	for want, k := range []Kind{Other, Invalid, NotExist, Exist, Permission, CannotDecrypt,
		Corrupt, Unavailable, Quota, IO, Canceled, IsDir, NotDir, NotEmpty} {
		if int(k) != want {
			t.Errorf("%v = %d, want %d", k, k, want)
		}
		if int(k) >= len(kindNames) || kindNames[k] == "" {
			t.Errorf("kind %d has no name", k)
		}
	}
	if got := Ef("commit", IsDir, "/a", errors.New("is a folder")).Error(); got != "commit /a: is a folder" {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(E("rm", NotEmpty, nil), NotEmpty) || errors.Is(E("rm", NotEmpty, nil), Invalid) {
		t.Error("NotEmpty is not its own kind")
	}
}
