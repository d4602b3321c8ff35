package erasure

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Fragment header layout (HeaderSize bytes, see FORMAT.md):
//
//	0..2   magic "CEF"
//	3      version (1)
//	4      k-1   (k in 1..256)
//	5      m     (0..255, k+m <= 256)
//	6      index (0..k+m-1)
//	7      reserved, 0
//	8..11  data length, uint32 little endian (1..MaxData)
//	12..15 CRC-32C (Castagnoli) of bytes 0..11, little endian
const (
	// HeaderSize is the size of the header that starts every fragment.
	HeaderSize = 16

	// MaxData is the largest data Encode accepts. A sealed chunk is at
	// most 8 MiB plus a small overhead; 64 MiB leaves room.
	MaxData = 64 << 20

	// MaxShards is the largest k+m: the code works over GF(2^8).
	MaxShards = 256

	headerVersion = 1
)

var (
	headerMagic = [3]byte{'C', 'E', 'F'}
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)
)

// Header is the parsed fragment header.
type Header struct {
	K, M    int // the code's data and parity fragment counts
	Index   int // this fragment's index, 0..K+M-1; below K it holds data
	DataLen int // length of the encoded data, 1..MaxData
}

// ShardSize is the length of the shard that follows the header:
// ceil(DataLen/K).
func (h Header) ShardSize() int { return shardSize(h.K, h.DataLen) }

// FragmentSize is HeaderSize + ShardSize.
func (h Header) FragmentSize() int { return HeaderSize + h.ShardSize() }

func shardSize(k, dataLen int) int { return (dataLen + k - 1) / k }

// FragmentSize is the size of each fragment (header and shard) that a code
// with k data fragments makes of dataLen bytes. It returns 0 when k or
// dataLen is out of range (k outside 1..MaxShards, dataLen outside
// 1..MaxData).
func FragmentSize(k, dataLen int) int {
	if k < 1 || k > MaxShards || dataLen < 1 || dataLen > MaxData {
		return 0
	}
	return HeaderSize + shardSize(k, dataLen)
}

// putHeader writes h into b[:HeaderSize]. h must be valid.
func putHeader(b []byte, h Header) {
	_ = b[HeaderSize-1]
	copy(b[0:3], headerMagic[:])
	b[3] = headerVersion
	b[4] = byte(h.K - 1)
	b[5] = byte(h.M)
	b[6] = byte(h.Index)
	b[7] = 0
	binary.LittleEndian.PutUint32(b[8:12], uint32(h.DataLen))
	binary.LittleEndian.PutUint32(b[12:16], crc32.Checksum(b[:12], castagnoli))
}

// ParseHeader parses and checks the header at the start of frag: magic,
// version, reserved byte, checksum, k, m, index and data length ranges. It
// looks only at the first HeaderSize bytes; frag may be the header alone or
// a whole fragment (use CheckFragment to also check the fragment's length).
// Any malformed header gives an error wrapping ErrCorrupt. It never retains
// or modifies frag.
func ParseHeader(frag []byte) (Header, error) {
	if len(frag) < HeaderSize {
		return Header{}, fmt.Errorf("fragment shorter than header (%d bytes): %w", len(frag), ErrCorrupt)
	}
	b := frag[:HeaderSize]
	if b[0] != headerMagic[0] || b[1] != headerMagic[1] || b[2] != headerMagic[2] {
		return Header{}, fmt.Errorf("bad magic: %w", ErrCorrupt)
	}
	if b[3] != headerVersion {
		return Header{}, fmt.Errorf("unknown version %d: %w", b[3], ErrCorrupt)
	}
	if crc32.Checksum(b[:12], castagnoli) != binary.LittleEndian.Uint32(b[12:16]) {
		return Header{}, fmt.Errorf("header checksum mismatch: %w", ErrCorrupt)
	}
	if b[7] != 0 {
		return Header{}, fmt.Errorf("reserved byte set: %w", ErrCorrupt)
	}
	h := Header{
		K:       int(b[4]) + 1,
		M:       int(b[5]),
		Index:   int(b[6]),
		DataLen: int(binary.LittleEndian.Uint32(b[8:12])),
	}
	if h.K+h.M > MaxShards {
		return Header{}, fmt.Errorf("k+m = %d > %d: %w", h.K+h.M, MaxShards, ErrCorrupt)
	}
	if h.Index >= h.K+h.M {
		return Header{}, fmt.Errorf("index %d >= k+m = %d: %w", h.Index, h.K+h.M, ErrCorrupt)
	}
	if h.DataLen < 1 || h.DataLen > MaxData {
		return Header{}, fmt.Errorf("data length %d out of range: %w", h.DataLen, ErrCorrupt)
	}
	return h, nil
}

// CheckFragment parses frag's header like ParseHeader and also checks that
// len(frag) is exactly the header's FragmentSize. Errors wrap ErrCorrupt.
func CheckFragment(frag []byte) (Header, error) {
	h, err := ParseHeader(frag)
	if err != nil {
		return Header{}, err
	}
	if len(frag) != h.FragmentSize() {
		return Header{}, fmt.Errorf("fragment is %d bytes, header says %d: %w", len(frag), h.FragmentSize(), ErrCorrupt)
	}
	return h, nil
}
