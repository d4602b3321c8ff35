package cryptree

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// FolderID names a folder for its whole life: the Ed25519 public key that
// signs its records (SPEC.md §10).
type FolderID [32]byte

// folderIDChars is the length of FolderID.String: 32 bytes in base32.
const folderIDChars = 52

// String returns the ID as 52 lower-case base32 characters (RFC 4648
// alphabet, no padding).
func (id FolderID) String() string { return b32lower.EncodeToString(id[:]) }

// ParseFolderID parses the output of FolderID.String. It accepts upper case
// and surrounding white space; anything else, including non-zero unused
// bits in the last character, is ErrInvalid.
func ParseFolderID(s string) (FolderID, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) != folderIDChars {
		return FolderID{}, invalid("folder id is not 52 base32 characters")
	}
	raw, err := b32lower.DecodeString(s)
	if err != nil || len(raw) != 32 || b32lower.EncodeToString(raw) != s {
		return FolderID{}, invalid("folder id is not valid base32")
	}
	return FolderID(raw), nil
}

// FolderKeys are the read keys of one folder (SPEC.md §10): SK opens the
// subtree, FK the data keys of its files, DK its own name and mtime, BK the
// backlink to its parent.
type FolderKeys struct{ SK, FK, DK, BK Key }

// NewFolderKeys returns four fresh random keys. The error is non-nil only if
// the system's randomness fails.
func NewFolderKeys() (FolderKeys, error) { return newFolderKeys(rand.Reader) }

func newFolderKeys(rnd io.Reader) (FolderKeys, error) {
	var b [64]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return FolderKeys{}, err
	}
	return FolderKeys{Key(b[0:16]), Key(b[16:32]), Key(b[32:48]), Key(b[48:64])}, nil
}

// Writer holds the write keys of one folder: the Ed25519 key that signs its
// records (its public half is the FolderID) and WK, which wraps the Writers
// of its subfolders, so whoever can write a folder can write its subtree.
// Treat Sign as read-only; copying a Writer shares it.
type Writer struct {
	Sign ed25519.PrivateKey
	WK   Key
}

// NewWriter returns a fresh random Writer: a new folder identity. The error
// is non-nil only if the system's randomness fails.
func NewWriter() (Writer, error) { return newWriter(rand.Reader) }

func newWriter(rnd io.Reader) (Writer, error) {
	var b [48]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return Writer{}, err
	}
	return Writer{Sign: ed25519.NewKeyFromSeed(b[:32]), WK: Key(b[32:])}, nil
}

// ID returns the folder the Writer writes: the public half of Sign. It is
// the zero ID if Sign is not an Ed25519 private key.
func (w Writer) ID() FolderID {
	if len(w.Sign) != ed25519.PrivateKeySize {
		return FolderID{}
	}
	return FolderID(w.Sign[32:])
}

// check verifies that Sign is a well-formed private key of folder id.
func (w *Writer) check(id FolderID) error {
	if len(w.Sign) != ed25519.PrivateKeySize {
		return invalid("writer signing key has the wrong length")
	}
	pub := ed25519.NewKeyFromSeed(w.Sign.Seed()).Public().(ed25519.PublicKey)
	if !bytes.Equal(pub, w.Sign[32:]) || FolderID(pub) != id {
		return invalid("writer signing key does not belong to the folder")
	}
	return nil
}

// writerFromSeed rebuilds a Writer from its stored form. Deriving the
// public half costs a scalar multiplication (~25 µs), and a folder's body
// is opened once per operation that passes through it — with every
// subfolder's writer in it — so the derived keys are remembered.
func writerFromSeed(seed []byte, wk Key) *Writer {
	return &Writer{Sign: signingKey(seed), WK: wk}
}

// signingKeys remembers private keys derived from seeds (bounded: the
// whole map is dropped when full).
var signingKeys struct {
	sync.Mutex
	m map[[ed25519.SeedSize]byte]ed25519.PrivateKey
}

const maxSigningKeys = 4096

// signingKey is ed25519.NewKeyFromSeed(seed) with the memo above; the
// caller owns the returned slice.
func signingKey(seed []byte) ed25519.PrivateKey {
	if len(seed) != ed25519.SeedSize {
		return ed25519.NewKeyFromSeed(seed) // panics as documented; callers check lengths
	}
	var s [ed25519.SeedSize]byte
	copy(s[:], seed)
	signingKeys.Lock()
	k, ok := signingKeys.m[s]
	signingKeys.Unlock()
	if !ok {
		k = ed25519.NewKeyFromSeed(seed)
		signingKeys.Lock()
		if signingKeys.m == nil || len(signingKeys.m) >= maxSigningKeys {
			signingKeys.m = make(map[[ed25519.SeedSize]byte]ed25519.PrivateKey)
		}
		signingKeys.m[s] = k
		signingKeys.Unlock()
	}
	return append(ed25519.PrivateKey(nil), k...)
}

// NewLabel returns 16 random bytes to label a new folder entry. Labels are
// the only thing of an entry visible without a key; they never change while
// the entry lives.
func NewLabel() ([16]byte, error) {
	var l [16]byte
	_, err := io.ReadFull(rand.Reader, l[:])
	return l, err
}

// Folder is the plain view of one folder: what the drive reads and writes.
// SealFolder never changes it; OpenFolder returns a new one the caller owns.
type Folder struct {
	Name   string      // "" for the root
	Mtime  time.Time   // kept to the nanosecond, returned in UTC
	Parent *ParentLink // nil at the root (or when unknown)
	Dirs   []DirEntry  // sorted by name on open; names unique across Dirs and Files
	Files  []FileEntry // sorted by name on open
}

// ParentLink is what a folder's backlink opens: the parent's ID and the keys
// that read the parent's name (DK) and its own backlink (BK).
type ParentLink struct {
	ID     FolderID
	DK, BK Key
}

// DirEntry is a subfolder as its parent holds it.
type DirEntry struct {
	Label  [16]byte
	Name   string
	ID     FolderID
	SK     Key     // the child's SK
	Writer *Writer // the child's write keys; nil if not available to the viewer
}

// FileEntry is a file as its folder holds it.
type FileEntry struct {
	Label [16]byte
	DK    Key  // the file's own data key
	Dirty bool // DK must change at the next write (after a revocation)
	Meta  FileMeta
}

// FileMeta is what a file's DK opens.
type FileMeta struct {
	Name     string
	Versions []Version // oldest first; the last is current; N strictly increasing
	Trashed  bool
}

// Version is one version of a file.
type Version struct {
	N        uint64 // 1-based
	Size     int64  // bytes, ≥ 0
	Mtime    time.Time
	Manifest []byte // opaque: a serialized manifest (Inline) or a locator of it; at most MaxManifest
	Inline   bool
}

// Limits of folder bodies (SPEC.md §10).
const (
	MaxManifest   = 1 << 20  // bytes of Version.Manifest
	MaxVersions   = 1 << 12  // versions of one file
	MaxFolderBody = 64 << 20 // bytes of a sealed body
)

// Body layout constants (SPEC.md §10).
const (
	bodyVersion = 0x01
	folderAD    = "cairn folder v1\x00"

	partKeys  = 0x01
	partInfo  = 0x02
	partBack  = 0x03
	partDirs  = 0x04
	partWrite = 0x05
	partFKeys = 0x06
	partFile  = 0x07
)

// partAD returns the additional data of one sealed part of a body.
func partAD(part byte, id *FolderID, sealID []byte, label *[16]byte) []byte {
	ad := make([]byte, 0, len(folderAD)+1+32+16+16)
	ad = append(ad, folderAD...)
	ad = append(ad, part)
	ad = append(ad, id[:]...)
	ad = append(ad, sealID...)
	if label != nil {
		ad = append(ad, label[:]...)
	}
	return ad
}

// sealPart seals plaintext under key with a nonce read from rnd.
func sealPart(rnd io.Reader, key Key, plaintext, ad []byte) ([]byte, error) {
	var nonce [12]byte
	if _, err := io.ReadFull(rnd, nonce[:]); err != nil {
		return nil, err
	}
	return sealRecord(key, nonce, plaintext, ad), nil
}

// SealFolder returns the sealed body of folder id with read keys keys: the
// Cryptree node of SPEC.md §10, padded with Pad. Every part is bound to id
// and to a fresh random seal id, so no part can be moved to another folder
// or another version. wk is the folder's WK: if non-nil, the Writers of
// the subfolders that have one are sealed under it; if nil, every
// DirEntry.Writer must be nil. Files are stored in label order, so the body
// shows neither names nor their order.
//
// It returns ErrInvalid for a bad name, a duplicate name or label, a zero
// label, a Writer that is not the entry's folder, versions that are not
// strictly increasing from 1, an oversized manifest or a body over
// MaxFolderBody. f is only read; the result is a new slice. Safe for
// concurrent use.
func SealFolder(f *Folder, id FolderID, keys FolderKeys, wk *Key) ([]byte, error) {
	return sealFolder(rand.Reader, f, id, keys, wk)
}

func sealFolder(rnd io.Reader, f *Folder, id FolderID, keys FolderKeys, wk *Key) ([]byte, error) {
	if f == nil {
		return nil, invalid("nil folder")
	}
	if f.Name != "" {
		if err := ValidName(f.Name); err != nil {
			return nil, err
		}
	}
	if err := checkEntries(f, wk != nil); err != nil {
		return nil, err
	}
	sealID := make([]byte, 16)
	if _, err := io.ReadFull(rnd, sealID); err != nil {
		return nil, err
	}
	out := enc{b: make([]byte, 0, 1024)}
	out.u8(bodyVersion)
	out.raw(sealID)
	part := func(p byte, key Key, plain []byte, label *[16]byte) error {
		s, err := sealPart(rnd, key, plain, partAD(p, &id, sealID, label))
		if err != nil {
			return err
		}
		out.bytes32(s)
		return nil
	}

	var e enc
	e.key(&keys.FK)
	e.key(&keys.DK)
	e.key(&keys.BK)
	if err := part(partKeys, keys.SK, e.b, nil); err != nil {
		return nil, err
	}

	e = enc{}
	e.time(f.Mtime)
	e.str8(f.Name)
	if err := part(partInfo, keys.DK, e.b, nil); err != nil {
		return nil, err
	}

	if f.Parent == nil {
		out.u32(0)
	} else {
		e = enc{}
		e.raw(f.Parent.ID[:])
		e.key(&f.Parent.DK)
		e.key(&f.Parent.BK)
		if err := part(partBack, keys.BK, e.b, nil); err != nil {
			return nil, err
		}
	}

	dirs := slices.Clone(f.Dirs)
	slices.SortFunc(dirs, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	e = enc{}
	e.u32(uint32(len(dirs)))
	var w enc
	nw := 0
	for i := range dirs {
		d := &dirs[i]
		e.label(&d.Label)
		e.raw(d.ID[:])
		e.key(&d.SK)
		e.str8(d.Name)
		if d.Writer != nil {
			w.label(&d.Label)
			w.raw(d.Writer.Sign.Seed())
			w.key(&d.Writer.WK)
			nw++
		}
	}
	if err := part(partDirs, keys.SK, e.b, nil); err != nil {
		return nil, err
	}
	if wk == nil {
		out.u32(0)
	} else {
		e = enc{}
		e.u32(uint32(nw))
		e.raw(w.b)
		if err := part(partWrite, *wk, e.b, nil); err != nil {
			return nil, err
		}
	}

	files := make([]*FileEntry, len(f.Files))
	for i := range f.Files {
		files[i] = &f.Files[i]
	}
	slices.SortFunc(files, func(a, b *FileEntry) int { return bytes.Compare(a.Label[:], b.Label[:]) })
	e = enc{}
	e.u32(uint32(len(files)))
	for _, fe := range files {
		e.label(&fe.Label)
		e.key(&fe.DK)
		e.bool(fe.Dirty)
	}
	if err := part(partFKeys, keys.FK, e.b, nil); err != nil {
		return nil, err
	}
	out.u32(uint32(len(files)))
	for _, fe := range files {
		out.label(&fe.Label)
		if err := part(partFile, fe.DK, marshalMeta(&fe.Meta), &fe.Label); err != nil {
			return nil, err
		}
	}
	if PaddedSize(len(out.b)) > MaxFolderBody {
		return nil, invalid("folder body larger than 64 MiB")
	}
	return Pad(out.b), nil
}

// checkEntries validates the entries of f for sealing.
func checkEntries(f *Folder, haveWK bool) error {
	names := make(map[string]bool, len(f.Dirs)+len(f.Files))
	labels := make(map[[16]byte]bool, len(f.Dirs)+len(f.Files))
	add := func(name string, label [16]byte) error {
		if err := ValidName(name); err != nil {
			return err
		}
		if names[name] {
			return invalid(fmt.Sprintf("name %q appears twice in the folder", name))
		}
		if label == ([16]byte{}) {
			return invalid("entry has a zero label")
		}
		if labels[label] {
			return invalid("label appears twice in the folder")
		}
		names[name], labels[label] = true, true
		return nil
	}
	for i := range f.Dirs {
		d := &f.Dirs[i]
		if err := add(d.Name, d.Label); err != nil {
			return err
		}
		if d.Writer != nil {
			if !haveWK {
				return invalid("subfolder has a Writer but no WK was given to seal it")
			}
			if err := d.Writer.check(d.ID); err != nil {
				return err
			}
		}
	}
	for i := range f.Files {
		fe := &f.Files[i]
		if err := add(fe.Meta.Name, fe.Label); err != nil {
			return err
		}
		if err := checkVersions(fe.Meta.Versions); err != nil {
			return err
		}
	}
	return nil
}

func checkVersions(vs []Version) error {
	if len(vs) == 0 {
		return invalid("file has no version")
	}
	if len(vs) > MaxVersions {
		return invalid("file has too many versions")
	}
	var last uint64
	for i := range vs {
		v := &vs[i]
		switch {
		case v.N <= last:
			return invalid("file versions are not strictly increasing from 1")
		case v.Size < 0:
			return invalid("file version has a negative size")
		case len(v.Manifest) > MaxManifest:
			return invalid("file version manifest is larger than 1 MiB")
		}
		last = v.N
	}
	return nil
}

func marshalMeta(m *FileMeta) []byte {
	n := 1 + 1 + len(m.Name) + 4
	for i := range m.Versions {
		n += 8 + 8 + 12 + 1 + 4 + len(m.Versions[i].Manifest)
	}
	e := enc{b: make([]byte, 0, n)}
	e.bool(m.Trashed)
	e.str8(m.Name)
	e.u32(uint32(len(m.Versions)))
	for i := range m.Versions {
		v := &m.Versions[i]
		e.u64(v.N)
		e.u64(uint64(v.Size))
		e.time(v.Mtime)
		e.bool(v.Inline)
		e.bytes32(v.Manifest)
	}
	return e.b
}

func parseMeta(b []byte) (*FileMeta, error) {
	d := dec{b: b}
	m := &FileMeta{Trashed: d.bool("trashed flag"), Name: d.str8("file name")}
	n := d.u32("version count")
	if d.err == nil && (n == 0 || n > MaxVersions) {
		d.fail("file has no or too many versions")
	}
	for i := uint32(0); i < n && d.err == nil; i++ {
		v := Version{N: d.u64("version number"), Size: int64(d.u64("size")), Mtime: d.time("mtime"), Inline: d.bool("inline flag")}
		v.Manifest = bytes.Clone(d.bytes32(MaxManifest, "manifest"))
		m.Versions = append(m.Versions, v)
	}
	d.end("file metadata")
	if d.err != nil {
		return nil, d.err
	}
	if err := ValidName(m.Name); err != nil {
		return nil, err
	}
	if err := checkVersions(m.Versions); err != nil {
		return nil, err
	}
	return m, nil
}

// rawBody is a body split into its sealed parts, nothing decrypted.
type rawBody struct {
	sealID                                  []byte
	keys, info, back, dirs, write, fileKeys []byte
	labels                                  [][16]byte
	files                                   [][]byte
}

// splitBody checks the padding and framing of a body.
func splitBody(body []byte) (*rawBody, error) {
	if len(body) > MaxFolderBody {
		return nil, invalid("folder body larger than 64 MiB")
	}
	content, err := Unpad(body)
	if err != nil {
		return nil, err
	}
	d := dec{b: content}
	if v := d.u8("body version"); d.err == nil && v != bodyVersion {
		return nil, invalid(fmt.Sprintf("folder body version %d is not supported", v))
	}
	r := &rawBody{sealID: d.take(16, "seal id")}
	r.keys = d.bytes32(len(content), "keys part")
	r.info = d.bytes32(len(content), "info part")
	r.back = d.bytes32(len(content), "backlink part")
	r.dirs = d.bytes32(len(content), "dirs part")
	r.write = d.bytes32(len(content), "write part")
	r.fileKeys = d.bytes32(len(content), "file keys part")
	n := d.u32("file count")
	for i := uint32(0); i < n && d.err == nil; i++ {
		l := d.label("file label")
		f := d.bytes32(len(content), "file part")
		if d.err == nil && i > 0 && bytes.Compare(r.labels[i-1][:], l[:]) >= 0 {
			d.fail("file labels are not in strictly increasing order")
		}
		r.labels = append(r.labels, l)
		r.files = append(r.files, f)
	}
	d.end("folder body")
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// open opens one part; an empty or failing part is ErrCannotDecrypt.
func (r *rawBody) open(p byte, sealed []byte, key Key, id *FolderID, label *[16]byte) ([]byte, error) {
	return OpenRecord(key, sealed, partAD(p, id, r.sealID, label))
}

// OpenFolder opens a body sealed by SealFolder with the folder's SK: the
// folder's name, mtime, parent link, subfolders and files, and its read
// keys. If wk is non-nil it must be the folder's WK, and the subfolders'
// Writers are filled in (a body sealed without write parts leaves them nil).
// It returns ErrCannotDecrypt for a wrong key, a body of another folder or
// any changed byte under a seal, and ErrInvalid for malformed framing or
// padding. body is only read; the Folder is new and the caller's.
func OpenFolder(body []byte, id FolderID, sk Key, wk *Key) (*Folder, FolderKeys, error) {
	r, err := splitBody(body)
	if err != nil {
		return nil, FolderKeys{}, err
	}
	keys, err := r.openKeys(&id, sk)
	if err != nil {
		return nil, FolderKeys{}, err
	}
	f := &Folder{}
	if f.Name, f.Mtime, err = r.openInfo(&id, keys.DK); err != nil {
		return nil, FolderKeys{}, err
	}
	if f.Parent, err = r.openBack(&id, keys.BK); err != nil {
		return nil, FolderKeys{}, err
	}
	if f.Dirs, err = r.openDirs(&id, sk, wk); err != nil {
		return nil, FolderKeys{}, err
	}
	if f.Files, err = r.openFiles(&id, keys.FK, true); err != nil {
		return nil, FolderKeys{}, err
	}
	names := make(map[string]bool, len(f.Dirs))
	for i := range f.Dirs {
		names[f.Dirs[i].Name] = true
	}
	for i := range f.Files {
		fe := &f.Files[i]
		if names[fe.Meta.Name] {
			return nil, FolderKeys{}, invalid("name appears twice in the folder")
		}
		names[fe.Meta.Name] = true
		for j := range f.Dirs {
			if f.Dirs[j].Label == fe.Label {
				return nil, FolderKeys{}, invalid("label appears twice in the folder")
			}
		}
	}
	slices.SortFunc(f.Files, func(a, b FileEntry) int { return strings.Compare(a.Meta.Name, b.Meta.Name) })
	return f, keys, nil
}

// OpenFiles opens the files of a body with the folder's FK alone: the
// files-only view of a folder (no name, no subfolders). The entries are
// sorted by name. Errors as for OpenFolder.
func OpenFiles(body []byte, id FolderID, fk Key) ([]FileEntry, error) {
	r, err := splitBody(body)
	if err != nil {
		return nil, err
	}
	files, err := r.openFiles(&id, fk, true)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b FileEntry) int { return strings.Compare(a.Meta.Name, b.Meta.Name) })
	return files, nil
}

// OpenFolderInfo opens a folder's own name and mtime with its DK (what a
// child's backlink hands over). Errors as for OpenFolder.
func OpenFolderInfo(body []byte, id FolderID, dk Key) (name string, mtime time.Time, err error) {
	r, err := splitBody(body)
	if err != nil {
		return "", time.Time{}, err
	}
	return r.openInfo(&id, dk)
}

// OpenBacklink opens a folder's backlink with its BK: the parent's ID, DK
// and BK, or nil at the root. Errors as for OpenFolder.
func OpenBacklink(body []byte, id FolderID, bk Key) (*ParentLink, error) {
	r, err := splitBody(body)
	if err != nil {
		return nil, err
	}
	return r.openBack(&id, bk)
}

// ErrNoEntry is returned by OpenFileEntry when the body has no entry with
// the label: the file was removed from its folder.
var ErrNoEntry = errors.New("cryptree: no such entry in the folder")

// OpenFileEntry opens one file's metadata with the file's DK and entry
// label, without any key of the folder (a shared single file). It returns
// ErrNoEntry if no entry has the label, and otherwise errors as for
// OpenFolder.
func OpenFileEntry(body []byte, id FolderID, label [16]byte, dk Key) (*FileMeta, error) {
	r, err := splitBody(body)
	if err != nil {
		return nil, err
	}
	i, ok := slices.BinarySearchFunc(r.labels, label, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	if !ok {
		return nil, ErrNoEntry
	}
	plain, err := r.open(partFile, r.files[i], dk, &id, &label)
	if err != nil {
		return nil, err
	}
	return parseMeta(plain)
}

func (r *rawBody) openKeys(id *FolderID, sk Key) (FolderKeys, error) {
	plain, err := r.open(partKeys, r.keys, sk, id, nil)
	if err != nil {
		return FolderKeys{}, err
	}
	d := dec{b: plain}
	k := FolderKeys{SK: sk, FK: d.key("FK"), DK: d.key("DK"), BK: d.key("BK")}
	d.end("keys part")
	return k, d.err
}

func (r *rawBody) openInfo(id *FolderID, dk Key) (string, time.Time, error) {
	plain, err := r.open(partInfo, r.info, dk, id, nil)
	if err != nil {
		return "", time.Time{}, err
	}
	d := dec{b: plain}
	mtime := d.time("folder mtime")
	name := d.str8("folder name")
	d.end("info part")
	if d.err != nil {
		return "", time.Time{}, d.err
	}
	if name != "" {
		if err := ValidName(name); err != nil {
			return "", time.Time{}, err
		}
	}
	return name, mtime, nil
}

func (r *rawBody) openBack(id *FolderID, bk Key) (*ParentLink, error) {
	if len(r.back) == 0 {
		return nil, nil
	}
	plain, err := r.open(partBack, r.back, bk, id, nil)
	if err != nil {
		return nil, err
	}
	d := dec{b: plain}
	p := &ParentLink{ID: d.id("parent id"), DK: d.key("parent DK"), BK: d.key("parent BK")}
	d.end("backlink part")
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}

func (r *rawBody) openDirs(id *FolderID, sk Key, wk *Key) ([]DirEntry, error) {
	plain, err := r.open(partDirs, r.dirs, sk, id, nil)
	if err != nil {
		return nil, err
	}
	d := dec{b: plain}
	n := d.u32("subfolder count")
	var dirs []DirEntry
	for i := uint32(0); i < n && d.err == nil; i++ {
		e := DirEntry{Label: d.label("subfolder label"), ID: d.id("subfolder id"), SK: d.key("subfolder SK"), Name: d.str8("subfolder name")}
		if d.err == nil {
			if err := ValidName(e.Name); err != nil {
				return nil, err
			}
			if i > 0 && dirs[i-1].Name >= e.Name {
				d.fail("subfolders are not in strictly increasing name order")
			}
			if e.Label == ([16]byte{}) {
				d.fail("subfolder has a zero label")
			}
		}
		dirs = append(dirs, e)
	}
	d.end("dirs part")
	if d.err != nil {
		return nil, d.err
	}
	seen := make(map[[16]byte]int, len(dirs))
	for i := range dirs {
		if _, dup := seen[dirs[i].Label]; dup {
			return nil, invalid("label appears twice in the folder")
		}
		seen[dirs[i].Label] = i
	}
	if wk == nil || len(r.write) == 0 {
		return dirs, nil
	}
	plain, err = r.open(partWrite, r.write, *wk, id, nil)
	if err != nil {
		return nil, err
	}
	d = dec{b: plain}
	n = d.u32("writer count")
	for i := uint32(0); i < n && d.err == nil; i++ {
		l := d.label("writer label")
		seed := d.take(32, "writer seed")
		k := d.key("writer WK")
		if d.err != nil {
			break
		}
		j, ok := seen[l]
		if !ok || dirs[j].Writer != nil {
			return nil, invalid("write part names an unknown or repeated subfolder")
		}
		w := writerFromSeed(seed, k)
		if w.ID() != dirs[j].ID {
			return nil, invalid("subfolder writer does not belong to the subfolder")
		}
		dirs[j].Writer = w
	}
	d.end("write part")
	if d.err != nil {
		return nil, d.err
	}
	return dirs, nil
}

// openFiles opens the file keys with fk and, if meta, every file's metadata.
func (r *rawBody) openFiles(id *FolderID, fk Key, meta bool) ([]FileEntry, error) {
	plain, err := r.open(partFKeys, r.fileKeys, fk, id, nil)
	if err != nil {
		return nil, err
	}
	d := dec{b: plain}
	n := d.u32("file count")
	if d.err == nil && int64(n) != int64(len(r.files)) {
		d.fail("file keys and file parts differ in number")
	}
	files := make([]FileEntry, 0, len(r.files))
	for i := uint32(0); i < n && d.err == nil; i++ {
		fe := FileEntry{Label: d.label("file label"), DK: d.key("file DK"), Dirty: d.bool("dirty flag")}
		if d.err == nil && (fe.Label != r.labels[i] || fe.Label == [16]byte{}) {
			d.fail("file keys and file parts differ in labels")
		}
		files = append(files, fe)
	}
	d.end("file keys part")
	if d.err != nil {
		return nil, d.err
	}
	if !meta {
		return files, nil
	}
	for i := range files {
		fe := &files[i]
		plain, err := r.open(partFile, r.files[i], fe.DK, id, &fe.Label)
		if err != nil {
			return nil, err
		}
		m, err := parseMeta(plain)
		if err != nil {
			return nil, err
		}
		fe.Meta = *m
	}
	names := make(map[string]bool, len(files))
	for i := range files {
		if names[files[i].Meta.Name] {
			return nil, invalid("name appears twice in the folder")
		}
		names[files[i].Meta.Name] = true
	}
	return files, nil
}
