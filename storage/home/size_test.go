package home

import (
	"errors"
	"testing"

	"github.com/cairn-storage/cairn/storage"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1024", 1024}, {"500MiB", 500 << 20}, {"2GB", 2e9}, {"1.5GiB", 3 << 29}, {" 4 kib ", 4096}, {"0", 0},
	} {
		if got, err := ParseSize(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "MiB", "-1GB", "2 parsecs", "1.2.3"} {
		if _, err := ParseSize(in); !errors.Is(err, storage.Invalid) || errors.Unwrap(err) == nil {
			t.Errorf("ParseSize(%q): %v, want Invalid wrapping a message", in, err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB", 3 << 50: "3.0 PiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
