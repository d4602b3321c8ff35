// Package chunker owns content-defined chunking: it splits a stream of file
// bytes into chunks whose boundaries depend only on the bytes around them,
// so that editing, inserting or deleting a few bytes in the middle of a big
// file changes only the chunks near the edit and the rest deduplicate.
//
// The algorithm is FastCDC-style: a gear rolling hash
//
//	h = h<<1 + gear[b]   (mod 2^64)
//
// over the stream, with cut-point skipping (no boundary before Min bytes),
// normalized chunking (a harder mask before the normal point, an easier one
// after it) and a forced cut at Max bytes. A cut is made after the byte at
// which the masked hash is zero. The hash is warmed over the 64 bytes before
// Min, so whether a position is a boundary depends only on the 63 bytes that
// end there and on where the chunk started.
//
// The parameters below are part of Cairn's stored data: changing any of them
// moves every chunk boundary of every user, and they are frozen by the test
// vectors in testdata/.
//
//   - The gear table: gear[i] is the i-th output (i = 0..255) of SplitMix64
//     seeded with 0x636169726e636463 ("cairncdc" in ASCII): the state grows
//     by 0x9e3779b97f4a7c15 before each output z, and z is mixed as
//     z = (z^(z>>30))*0xbf58476d1ce4e5b9; z = (z^(z>>27))*0x94d049bb133111eb;
//     z ^= z>>31.
//   - With b = log2(Avg), the mask before the normal point has b+2 one bits,
//     the one after it b-2 (at least 0); both sit at bits 62 downwards
//     (bit 63 is never tested).
//   - The normal point is Avg - Avg/4 (clamped to [Min, Max]) rather than
//     Avg: with it the mean chunk size on random data comes out close to Avg
//     (about 0.98 Avg for Min = Avg/2, 0.94 Avg for Min = Avg/4) instead of
//     about 1.2 Avg.
//
// Chunker reads an io.Reader and hands out chunks that point into its own
// buffer (at most about 2*Max bytes); Cut and Boundaries are the same
// algorithm as pure functions over a byte slice.
package chunker
