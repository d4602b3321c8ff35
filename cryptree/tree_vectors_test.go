package cryptree

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

var treeVectorsPath = filepath.Join("..", "testdata", "cryptree", "tree-vectors.json")

// treeVectorFile holds the vectors of SPEC.md §10–§16. "Random" bytes come
// from a counter: rnd_start, rnd_start+1, ... mod 256, read in the order
// the SPEC gives.
type treeVectorFile struct {
	Comment    string            `json:"comment"`
	FolderBody []folderBodyVec   `json:"folder_body"`
	FileEntry  []fileEntryVec    `json:"file_entry"`
	Record     []folderRecordVec `json:"folder_record"`
	Capability []capabilityVec   `json:"capability"`
	Message    []messageVec      `json:"sealed_message"`
	Inbox      []inboxVec        `json:"inbox_id"`
	Root       []rootVec         `json:"root_folder"`
	Pad        []padVec          `json:"pad"`
}

type folderBodyVec struct {
	ID       hexBytes        `json:"id"`
	IDString string          `json:"id_string"`
	SK       hexBytes        `json:"sk"`
	FK       hexBytes        `json:"fk"`
	DK       hexBytes        `json:"dk"`
	BK       hexBytes        `json:"bk"`
	WK       hexBytes        `json:"wk"`
	RndStart byte            `json:"rnd_start"`
	Plain    json.RawMessage `json:"plain"` // the Folder as OpenFolder with WK returns it (Go's encoding/json)
	Body     hexBytes        `json:"body"`
}

type fileEntryVec struct {
	ID    hexBytes        `json:"id"`
	Label hexBytes        `json:"label"`
	DK    hexBytes        `json:"dk"`
	Body  string          `json:"body"` // which folder_body (by id_string)
	Meta  json.RawMessage `json:"meta"`
}

type folderRecordVec struct {
	Seed      hexBytes `json:"signing_seed"`
	Seq       uint64   `json:"seq"`
	Value     hexBytes `json:"value"`
	Record    hexBytes `json:"record"`
	RecordKey hexBytes `json:"record_key"`
}

type capabilityVec struct {
	Marshal hexBytes `json:"marshal"`
	Link    string   `json:"link"`
}

type messageVec struct {
	SenderSeed   hexBytes `json:"sender_seed"`
	RecipientPrv hexBytes `json:"recipient_box_private"`
	RecipientPub hexBytes `json:"recipient_box_public"`
	RndStart     byte     `json:"rnd_start"`
	Plaintext    hexBytes `json:"plaintext"`
	Sealed       hexBytes `json:"sealed"`
}

type inboxVec struct {
	Sign  hexBytes `json:"ed25519_public"`
	Inbox hexBytes `json:"inbox_id"`
}

type rootVec struct {
	Root        hexBytes `json:"root"`
	SigningSeed hexBytes `json:"signing_seed"`
	ID          string   `json:"id"`
	WK          hexBytes `json:"wk"`
	SK          hexBytes `json:"sk"`
	FK          hexBytes `json:"fk"`
	DK          hexBytes `json:"dk"`
	BK          hexBytes `json:"bk"`
}

type padVec struct {
	Len    int      `json:"len"`
	Padded int      `json:"padded_len"`
	Sample hexBytes `json:"sample,omitempty"`
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compact removes the indentation MarshalIndent put into raw JSON.
func compact(t testing.TB, raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func generateTreeVectors(t testing.TB) treeVectorFile {
	v := treeVectorFile{Comment: "Cairn cryptree v1 folder, record, capability, link, message, inbox, root and padding vectors; see cryptree/SPEC.md §10-§16. Byte strings are hex; random bytes are rnd_start, rnd_start+1, ... mod 256."}
	root, docs, deep := testTree(t)
	for i, n := range []*node{root, docs, deep} {
		start := byte(0xa0 + 0x10*i)
		body, err := sealFolder(&stream{next: start}, n.f, n.id, n.keys, &n.w.WK)
		if err != nil {
			t.Fatal(err)
		}
		v.FolderBody = append(v.FolderBody, folderBodyVec{
			ID: n.id[:], IDString: n.id.String(), SK: n.keys.SK[:], FK: n.keys.FK[:], DK: n.keys.DK[:], BK: n.keys.BK[:], WK: n.w.WK[:],
			RndStart: start, Plain: mustJSON(t, sortedView(n.f)), Body: body,
		})
		for _, fe := range n.f.Files {
			v.FileEntry = append(v.FileEntry, fileEntryVec{n.id[:], fe.Label[:], fe.DK[:], n.id.String(), mustJSON(t, fe.Meta)})
		}
	}
	w := mustWriter(t, &stream{next: 7})
	for i, val := range []string{"", "locator of a folder body"} {
		r, err := SignRecord(w, uint64(i*1000+1), []byte(val))
		if err != nil {
			t.Fatal(err)
		}
		v.Record = append(v.Record, folderRecordVec{w.Sign.Seed(), r.Seq, r.Value, r.Marshal(), []byte(RecordKey(w.ID()))})
	}
	for _, c := range testCaps(t) {
		v.Capability = append(v.Capability, capabilityVec{c.Marshal(), FormatLink(c)})
	}
	alice := KeyringFromRoot([32]byte(pattern(32, 1, 1)))
	bobPriv, bobPub := KeyringFromRoot([32]byte(pattern(32, 2, 1))).BoxKey()
	for i, m := range [][]byte{nil, testCaps(t)[1].Marshal()} {
		start := byte(0x50 + i)
		s, err := sealTo(&stream{next: start}, bobPub, alice.SigningKey(), m)
		if err != nil {
			t.Fatal(err)
		}
		v.Message = append(v.Message, messageVec{alice.SigningKey().Seed(), bobPriv[:], bobPub[:], start, m, s})
	}
	for i := range 2 {
		k := KeyringFromRoot([32]byte(pattern(32, byte(i), byte(2*i+1))))
		pub := k.SigningKey().Public().(ed25519.PublicKey)
		id := InboxID(pub)
		v.Inbox = append(v.Inbox, inboxVec{[]byte(pub), id[:]})
		keys, rw := k.RootFolder()
		v.Root = append(v.Root, rootVec{k.Root[:], rw.Sign.Seed(), rw.ID().String(), rw.WK[:], keys.SK[:], keys.FK[:], keys.DK[:], keys.BK[:]})
	}
	for _, n := range []int{0, 5, 1023, 1024, 5000, 1<<20 - 1, 1 << 20, 3<<20 + 1} {
		pv := padVec{Len: n, Padded: PaddedSize(n)}
		if n == 5 {
			pv.Sample = Pad([]byte("hello"))
		}
		v.Pad = append(v.Pad, pv)
	}
	return v
}

func TestTreeVectors(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(generateTreeVectors(t), "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(treeVectorsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(treeVectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var v treeVectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for i := range v.FolderBody {
		v.FolderBody[i].Plain = compact(t, v.FolderBody[i].Plain)
	}
	for i := range v.FileEntry {
		v.FileEntry[i].Meta = compact(t, v.FileEntry[i].Meta)
	}
	if len(v.FolderBody) == 0 || len(v.FileEntry) == 0 || len(v.Record) == 0 || len(v.Capability) == 0 ||
		len(v.Message) == 0 || len(v.Inbox) == 0 || len(v.Root) == 0 || len(v.Pad) == 0 {
		t.Fatal("vector file has an empty section")
	}
	bodies := map[string][]byte{}
	for i, c := range v.FolderBody {
		id := FolderID(c.ID)
		if id.String() != c.IDString {
			t.Errorf("folder_body[%d]: id string %q", i, id.String())
		}
		keys := FolderKeys{Key(c.SK), Key(c.FK), Key(c.DK), Key(c.BK)}
		wk := Key(c.WK)
		var plain Folder
		if err := json.Unmarshal(c.Plain, &plain); err != nil {
			t.Fatal(err)
		}
		if got, err := sealFolder(&stream{next: c.RndStart}, &plain, id, keys, &wk); err != nil || !bytes.Equal(got, c.Body) {
			t.Errorf("folder_body[%d]: seal differs (%v)", i, err)
		}
		f, gotKeys, err := OpenFolder(c.Body, id, keys.SK, &wk)
		if err != nil || gotKeys != keys || !bytes.Equal(mustJSON(t, f), c.Plain) {
			t.Errorf("folder_body[%d]: open: %v", i, err)
		}
		bodies[c.IDString] = c.Body
	}
	for i, c := range v.FileEntry {
		m, err := OpenFileEntry(bodies[c.Body], FolderID(c.ID), [16]byte(c.Label), Key(c.DK))
		if err != nil || !bytes.Equal(mustJSON(t, m), c.Meta) {
			t.Errorf("file_entry[%d]: %v", i, err)
		}
	}
	for i, c := range v.Record {
		w := Writer{Sign: ed25519.NewKeyFromSeed(c.Seed)}
		r, err := SignRecord(w, c.Seq, c.Value)
		if err != nil || !bytes.Equal(r.Marshal(), c.Record) || RecordKey(w.ID()) != string(c.RecordKey) {
			t.Errorf("folder_record[%d]: sign differs (%v)", i, err)
		}
		if _, err := ParseRecord(c.Record); err != nil {
			t.Errorf("folder_record[%d]: %v", i, err)
		}
	}
	for i, c := range v.Capability {
		cp, err := ParseCapability(c.Marshal)
		if err != nil || FormatLink(cp) != c.Link {
			t.Errorf("capability[%d]: %v", i, err)
			continue
		}
		lc, err := ParseLink(c.Link)
		if err != nil || lc.ID != cp.ID || lc.Writer != nil {
			t.Errorf("capability[%d]: link: %v", i, err)
		}
	}
	for i, c := range v.Message {
		got, err := sealTo(&stream{next: c.RndStart}, [32]byte(c.RecipientPub), ed25519.NewKeyFromSeed(c.SenderSeed), c.Plaintext)
		if err != nil || !bytes.Equal(got, c.Sealed) {
			t.Errorf("sealed_message[%d]: seal differs (%v)", i, err)
		}
		p, sender, err := OpenFrom([32]byte(c.RecipientPrv), c.Sealed)
		if err != nil || !bytes.Equal(p, c.Plaintext) || !sender.Equal(ed25519.NewKeyFromSeed(c.SenderSeed).Public()) {
			t.Errorf("sealed_message[%d]: open: %v", i, err)
		}
	}
	for i, c := range v.Inbox {
		if got := InboxID(ed25519.PublicKey(c.Sign)); !bytes.Equal(got[:], c.Inbox) {
			t.Errorf("inbox_id[%d]: got %x", i, got)
		}
	}
	for i, c := range v.Root {
		keys, w := KeyringFromRoot([32]byte(c.Root)).RootFolder()
		got := rootVec{c.Root, w.Sign.Seed(), w.ID().String(), w.WK[:], keys.SK[:], keys.FK[:], keys.DK[:], keys.BK[:]}
		if !jsonEqual(t, got, c) {
			t.Errorf("root_folder[%d]: got %+v", i, got)
		}
	}
	for i, c := range v.Pad {
		if PaddedSize(c.Len) != c.Padded {
			t.Errorf("pad[%d]: PaddedSize(%d) = %d", i, c.Len, PaddedSize(c.Len))
		}
		if c.Sample != nil {
			if u, err := Unpad(c.Sample); err != nil || len(u) != c.Len || !bytes.Equal(Pad(u), c.Sample) {
				t.Errorf("pad[%d]: sample: %v", i, err)
			}
		}
	}
}
