// Package blob is Cairn's data path for the bytes of one file version:
//
//	reader ─chunk (content-defined)─▶ chunk ─derive id+key─▶ AES-128-GCM ─▶ sealed chunk
//	       ─Reed–Solomon k+m(+extra)─▶ fragments ─place (weighted rendezvous, distinct nets)─▶ peers
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
