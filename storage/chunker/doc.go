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
//   - The gear table. The public table (Public; New, Cut and Boundaries):
//     gear[i] is the i-th output (i = 0..255) of SplitMix64
//     seeded with 0x636169726e636463 ("cairncdc" in ASCII): the state grows
//     by 0x9e3779b97f4a7c15 before each output z, and z is mixed as
//     z = (z^(z>>30))*0xbf58476d1ce4e5b9; z = (z^(z>>27))*0x94d049bb133111eb;
//     z ^= z>>31.
//   - A keyed table (Keyed), from a 32-byte secret K:
//     T = HMAC-SHA256(K, "cairn chunker v1 gear" || 0x00) || ... ||
//     HMAC-SHA256(K, "cairn chunker v1 gear" || 0x3f), 64 blocks of 32
//     bytes (the label is 21 ASCII bytes, then one byte j = 0..63), and
//     gear[i] is T[8i : 8i+8] read as a little-endian uint64.
//     Golden vector: for K = 0x00 0x01 ... 0x1f, gear[0] = 0x5255f2ce78dafa4c,
//     gear[1] = 0xe6a81dde6d88b9d3, gear[255] = 0x85aada16786fdd93, and the
//     SHA-256 of the 256 values as little-endian uint64s is
//     61291158c5218cac6241e15d42bc2433e3cb98894c5a83acc9ca582e7b12779b;
//     with Min 2 KiB, Avg 8 KiB, Max 64 KiB its first boundaries over the
//     input of testdata/boundaries-keyed-small.txt are 9038, 19347, 26359.
//     The zero key is an ordinary key (its gear[0] is 0xe71a7f44b96cca2f),
//     not the public table.
//   - With b = log2(Avg), the mask before the normal point has b+2 one bits,
//     the one after it b-2 (at least 0); both sit at bits 62 downwards
//     (bit 63 is never tested).
//   - The normal point is Avg - Avg/4 (clamped to [Min, Max]) rather than
//     Avg: with it the mean chunk size on random data comes out close to Avg
//     (about 0.98 Avg for Min = Avg/2, 0.94 Avg for Min = Avg/4) instead of
//     about 1.2 Avg.
//
// The table is the only secret: the masks and the normal point follow from
// the public Params, and the hash is reset at each chunk start and warmed
// over 64 bytes, which shift any starting value out of the tested bits, so
// there is nothing else that decides a boundary. With a keyed table the
// boundaries of a known plaintext cannot be predicted without K (user data
// is chunked this way: cryptree derives K from the user's root, and
// storage/blob uses it), while one K always cuts equal bytes equally, so a
// user's versions still deduplicate. What a keyed table does not hide:
// chunk counts (about size/Avg) and, to someone who sees exact chunk
// lengths of files they know, information about the table itself
// (published attacks recover keyed-CDC parameters from chunk lengths), which
// is why sealed chunks are also padded to length buckets (cryptree/SPEC.md).
//
// Chunker reads an io.Reader and hands out chunks that point into its own
// buffer (at most about 2*Max bytes); Cut and Boundaries are the same
// algorithm as pure functions over a byte slice.
package chunker
