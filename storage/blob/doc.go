// Package blob is Cairn's data path for the bytes of one file version:
//
//	reader ─chunk (content-defined, keyed)─▶ chunk ─derive id+key─▶ AES-128-GCM, padded ─▶ sealed chunk
//	       ─Reed–Solomon k+m(+extra)─▶ fragments ─place (weighted rendezvous, distinct nets)─▶ peers
//
// Boundaries come from a gear table keyed by the user's chunker key
// (Config.ChunkerKey), and sealed chunks are padded to Padmé length buckets
// (cryptree.SealChunkPadded), so a storage peer that knows a candidate file
// can neither predict its chunk lengths nor read exact ones from the
// fragment headers it holds. Chunks sealed before padding (version 0x01)
// still read.
//
// Put streams any io.Reader through that path with bounded memory and
// returns a Manifest: per chunk its id, key, code and the fragments that
// landed with their holders. Open turns a Manifest back into a
// random-access reader (io.ReaderAt, io.ReadSeeker, io.WriterTo) that
// fetches only the chunks a read covers, asks k plus a few holders per
// chunk, and uses the first k fragments that verify.
//
// A Manifest holds keys: it is a secret of the owner's and is sealed
// before it is stored anywhere (see cryptree).
package blob
