package drive

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
)

// The share list and the received list are files of the user's own tree,
// /.cairn/shares and /.cairn/received, whose content sits inline in their
// manifest (so in the file's metadata, sealed under the file's DK, under
// the root's FK). They come back with the root on a recovered keyring.
//
//	grants   = "CDG\x01" ‖ uvarint(n) ‖ n × grant
//	grant    = kind (1 folder, 2 file) ‖ id (32: the folder, or the file's
//	           folder) ‖ label (16, files only) ‖ flags (bit 0: write) ‖
//	           string path ‖ string to (user id, "" for a link) ‖
//	           string link ("" for a user) ‖ time
//	received = "CDR\x01" ‖ uvarint(n) ‖ n × ( string name ‖ from (32) ‖
//	           time ‖ string capability (cryptree.Capability.Marshal) )
//	pending  = "CDP\x01" ‖ the same as received: shares offered by users
//	           not accepted yet (pending.go), at /.cairn/pending
//	message  = "CDS\x01" ‖ replaces (32; zero for a new grant) ‖ capability
//
// string = uvarint(len) ‖ bytes; time as in record.go.
const (
	magicGrants   = "CDG\x01"
	magicReceived = "CDR\x01"
	magicPending  = "CDP\x01"
	magicMessage  = "CDS\x01"

	// MaxShareList is the largest encoded share list or received list.
	MaxShareList = 512 << 10

	maxListLen = 1 << 16
	maxCapLen  = 512
	maxLinkLen = 1024
	maxUserLen = 256

	// CairnDir holds the share list and the received list. List and Walk
	// of "/" leave it out; Commit, Mkdir, Remove and Rename refuse it.
	CairnDir = "/.cairn"
	// SharedDir is where received shares appear. It is virtual: a folder
	// of the root named "shared" is hidden behind it.
	SharedDir = "/shared"

	sharesFile   = "shares"
	receivedFile = "received"
	pendingFile  = "pending"
)

// grant is one entry of the share list.
type grant struct {
	Grant
	id    cryptree.FolderID // the folder, or the file's folder
	label [16]byte          // the file's entry; zero for a folder
}

func encodeGrants(gs []grant) []byte {
	b := []byte(magicGrants)
	b = binary.AppendUvarint(b, uint64(len(gs)))
	for _, g := range gs {
		if g.label == ([16]byte{}) {
			b = append(b, byte(cryptree.CapFolder))
			b = append(b, g.id[:]...)
		} else {
			b = append(b, byte(cryptree.CapFile))
			b = append(b, g.id[:]...)
			b = append(b, g.label[:]...)
		}
		var flags byte
		if g.Write {
			flags |= 1
		}
		b = append(b, flags)
		b = appendString(b, g.Path)
		b = appendString(b, g.To)
		b = appendString(b, g.Link)
		b = appendTime(b, g.Time)
	}
	return b
}

// decodeGrants parses a share list. Anything malformed is an error.
func decodeGrants(b []byte) ([]grant, error) {
	if len(b) > MaxShareList {
		return nil, fmt.Errorf("%w: share list of %d bytes", errRecord, len(b))
	}
	d := newDecoder(b, magicGrants)
	n := d.uint(maxListLen)
	var out []grant
	for i := uint64(0); i < n && d.err == nil; i++ {
		var g grant
		kind := cryptree.CapKind(d.byte())
		copy(g.id[:], d.bytes(32))
		switch kind {
		case cryptree.CapFolder:
			g.IsDir = true
		case cryptree.CapFile:
			copy(g.label[:], d.bytes(16))
			if d.err == nil && g.label == ([16]byte{}) {
				d.fail("file grant with a zero label")
			}
		default:
			d.fail("unknown grant kind")
		}
		flags := d.byte()
		if flags > 1 {
			d.fail("unknown grant flags")
		}
		g.Write = flags&1 != 0
		g.Path = d.string(MaxPath)
		g.To = d.string(maxUserLen)
		g.Link = d.string(maxLinkLen)
		g.Time = d.time()
		if d.err == nil {
			if _, err := Clean(g.Path); err != nil || g.Path == "" || g.Path[0] != '/' {
				d.fail("grant path is not a clean path")
			}
			if (g.To == "") == (g.Link == "") {
				d.fail("grant must name exactly one of a user and a link")
			}
			if g.Link != "" && g.Write {
				d.fail("a link grant cannot have write access")
			}
		}
		out = append(out, g)
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return out, nil
}

// received is one entry of the received list: a share under
// /shared/<name>.
type received struct {
	name string
	from [32]byte // the sender's Ed25519 key
	time time.Time
	cap  *cryptree.Capability
}

func encodeReceived(rs []received) []byte { return encodeShareList(magicReceived, rs) }

func decodeReceived(b []byte) ([]received, error) { return decodeShareList(magicReceived, b) }

// encodeShareList encodes a received or a pending list.
func encodeShareList(magic string, rs []received) []byte {
	b := []byte(magic)
	b = binary.AppendUvarint(b, uint64(len(rs)))
	for _, r := range rs {
		b = appendString(b, r.name)
		b = append(b, r.from[:]...)
		b = appendTime(b, r.time)
		b = appendString(b, string(r.cap.Marshal()))
	}
	return b
}

// decodeShareList parses a received or a pending list: names valid and
// unique, capabilities that parse.
func decodeShareList(magic string, b []byte) ([]received, error) {
	if len(b) > MaxShareList {
		return nil, fmt.Errorf("%w: share list of %d bytes", errRecord, len(b))
	}
	d := newDecoder(b, magic)
	n := d.uint(maxListLen)
	var out []received
	seen := map[string]bool{}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var r received
		r.name = d.name()
		copy(r.from[:], d.bytes(32))
		r.time = d.time()
		c := d.bytes(d.uint(maxCapLen))
		if d.err != nil {
			break
		}
		if err := cryptree.ValidName(r.name); err != nil || seen[r.name] {
			d.fail("bad or repeated share name")
			break
		}
		seen[r.name] = true
		cp, err := cryptree.ParseCapability(c)
		if err != nil {
			d.fail("bad capability: " + err.Error())
			break
		}
		r.cap = cp
		out = append(out, r)
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return out, nil
}

// encodeMessage is what Share and Unshare seal to a recipient: the
// capability and, for a re-delivery after a re-key, the folder ID the
// capability replaces.
func encodeMessage(replaces cryptree.FolderID, c *cryptree.Capability) []byte {
	b := []byte(magicMessage)
	b = append(b, replaces[:]...)
	return append(b, c.Marshal()...)
}

// decodeMessage parses the plaintext of an inbox message.
func decodeMessage(b []byte) (cryptree.FolderID, *cryptree.Capability, error) {
	var replaces cryptree.FolderID
	if len(b) < len(magicMessage)+32 || !bytes.HasPrefix(b, []byte(magicMessage)) {
		return replaces, nil, fmt.Errorf("%w: not a share message", errRecord)
	}
	copy(replaces[:], b[len(magicMessage):])
	c, err := cryptree.ParseCapability(b[len(magicMessage)+32:])
	if err != nil {
		return replaces, nil, fmt.Errorf("%w: %v", errRecord, err)
	}
	return replaces, c, nil
}

// readList returns the content of /.cairn/<name>, nil if there is none.
func (o *op) readList(ctx context.Context, name string) ([]byte, error) {
	root, err := o.root(ctx)
	if err != nil {
		return nil, err
	}
	d, _ := root.find(CairnDir[1:])
	if d == nil {
		return nil, nil
	}
	c, err := o.child(ctx, root, d)
	if err != nil {
		return nil, err
	}
	_, f := c.find(name)
	if f == nil {
		return nil, nil
	}
	m, err := o.t.manifest(ctx, &f.Meta.Versions[len(f.Meta.Versions)-1])
	if err != nil {
		return nil, err
	}
	if len(m.Chunks) != 0 {
		return nil, storage.Ef("read list", storage.Corrupt, CairnDir+"/"+name, errors.New("not an inline list"))
	}
	return m.Inline, nil
}

// writeList commits b as the new version of /.cairn/<name>.
func (o *op) writeList(ctx context.Context, name string, b []byte) error {
	if len(b) > MaxShareList {
		return storage.Ef("write list", storage.Invalid, CairnDir+"/"+name,
			fmt.Errorf("list of %d bytes is over the limit of %d", len(b), MaxShareList))
	}
	_, err := o.commit(ctx, CairnDir+"/"+name, &blob.Manifest{Size: int64(len(b)), Inline: b}, time.Time{})
	return err
}

func (o *op) grants(ctx context.Context) ([]grant, error) {
	b, err := o.readList(ctx, sharesFile)
	if err != nil || b == nil {
		return nil, err
	}
	gs, err := decodeGrants(b)
	if err != nil {
		return nil, storage.Ef("read share list", storage.Corrupt, CairnDir+"/"+sharesFile, err)
	}
	return gs, nil
}

func (o *op) setGrants(ctx context.Context, gs []grant) error {
	return o.writeList(ctx, sharesFile, encodeGrants(gs))
}

func (o *op) received(ctx context.Context) ([]received, error) {
	if o.recv != nil {
		return *o.recv, nil
	}
	b, err := o.readList(ctx, receivedFile)
	if err != nil {
		return nil, err
	}
	var rs []received
	if b != nil {
		if rs, err = decodeReceived(b); err != nil {
			return nil, storage.Ef("read received list", storage.Corrupt, CairnDir+"/"+receivedFile, err)
		}
	}
	o.recv = &rs
	return rs, nil
}

func (o *op) setReceived(ctx context.Context, rs []received) error {
	o.recv = &rs
	return o.writeList(ctx, receivedFile, encodeReceived(rs))
}
