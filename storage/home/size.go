package home

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cairn-storage/cairn/storage"
)

// ParseSize reads sizes like 500MiB, 2GB, 1.5GiB, 1024 (bytes). A bad one
// is Invalid; the error it wraps says what is wrong in words for the user.
func ParseSize(s string) (int64, error) {
	bad := func(format string, args ...any) error {
		return storage.E("parse size", storage.Invalid, fmt.Errorf(format, args...))
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, bad("empty size")
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, bad("bad size %q: want a number and a unit like 500MiB or 2GB", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}[unit]
	if mult == 0 {
		return 0, bad("bad size %q: unknown unit %q (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", s, unit)
	}
	return int64(v * mult), nil
}

// FormatSize prints bytes in binary units: 512 B, 1.5 KiB, 2.0 GiB.
func FormatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
