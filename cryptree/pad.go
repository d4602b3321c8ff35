package cryptree

// Padding buckets (SPEC.md §15).
const (
	padMin  = 1 << 10 // smallest padded size
	padStep = 1 << 20 // above this, sizes grow in steps of 1 MiB
)

// PaddedSize returns the length Pad gives to n bytes: with the 0x80 marker,
// n+1 bytes rounded up to 1 KiB, then to the next power of two up to 1 MiB,
// then to a multiple of 1 MiB. The waste is under half below 1 MiB and
// under 1 MiB above.
func PaddedSize(n int) int {
	m := n + 1
	switch {
	case m <= padMin:
		return padMin
	case m <= padStep:
		p := padMin
		for p < m {
			p <<= 1
		}
		return p
	}
	return (m + padStep - 1) / padStep * padStep
}

// Pad returns b followed by the byte 0x80 and zeros up to PaddedSize(len(b)),
// so only the bucket of the length shows. The result is a new slice; b is
// only read.
func Pad(b []byte) []byte {
	out := make([]byte, PaddedSize(len(b)))
	copy(out, b)
	out[len(b)] = 0x80
	return out
}

// Unpad undoes Pad. It returns ErrInvalid unless b is exactly what Pad
// makes: a 0x80 marker after the content, then only zeros, and a total
// length of PaddedSize(content). The result aliases b (it is b[:n]).
func Unpad(b []byte) ([]byte, error) {
	i := len(b) - 1
	for i >= 0 && b[i] == 0 {
		i--
	}
	if i < 0 || b[i] != 0x80 {
		return nil, invalid("padding has no 0x80 marker")
	}
	if PaddedSize(i) != len(b) {
		return nil, invalid("padded length does not match its content")
	}
	return b[:i:i], nil
}
