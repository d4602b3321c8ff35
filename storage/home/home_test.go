package home

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
)

func pass(p string) Passphrase { return func() ([]byte, error) { return []byte(p), nil } }

// noPass fails the test if the passphrase is asked for.
func noPass(t *testing.T) Passphrase {
	return func() ([]byte, error) { t.Fatal("passphrase asked for"); return nil, nil }
}

func TestInitOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	if Exists(dir) {
		t.Fatal("Exists before Init")
	}
	h, kr, err := Init(dir, pass("pw"), cryptree.TestKDF)
	if err != nil {
		t.Fatal(err)
	}
	if !Exists(dir) || h.Dir() != dir || h.DBDir() != filepath.Join(dir, DBDir) || h.Config().Created == 0 {
		t.Fatalf("after Init: exists %v, dir %q, db %q, config %+v", Exists(dir), h.Dir(), h.DBDir(), h.Config())
	}
	for _, f := range []string{ConfigFile, KeyringFile, IdentityFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want a file of mode 0600", f, err, fi.Mode())
		}
	}
	h2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h2.Config().Created != h.Config().Created {
		t.Errorf("Open's config %+v, Init's %+v", h2.Config(), h.Config())
	}
	got, err := h2.Keyring(pass("pw"))
	if err != nil || got.UserID() != kr.UserID() {
		t.Fatalf("Keyring: %v, user %v; want %s", err, got, kr.UserID())
	}
	key, id, err := h2.Identity()
	if err != nil || len(key) == 0 || id == "" {
		t.Fatalf("Identity: %v, %d bytes, %q", err, len(key), id)
	}
}

func TestInitRefusesAHome(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Init(dir, pass("pw"), cryptree.TestKDF); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, KeyringFile))
	if _, _, err := Init(dir, noPass(t), cryptree.TestKDF); !errors.Is(err, storage.Exist) {
		t.Fatalf("second Init: %v, want Exist", err)
	}
	if _, _, err := Recover(dir, "anything", noPass(t), cryptree.TestKDF); !errors.Is(err, storage.Exist) {
		t.Fatalf("Recover over a home: %v, want Exist", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, KeyringFile)); string(after) != string(before) {
		t.Fatal("a refused Init changed the keyring")
	}
}

func TestWrongPassphrase(t *testing.T) {
	dir := t.TempDir()
	h, _, err := Init(dir, pass("right"), cryptree.TestKDF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Keyring(pass("wrong")); !errors.Is(err, storage.CannotDecrypt) {
		t.Fatalf("wrong passphrase: %v, want CannotDecrypt", err)
	}
	// The passphrase's own error comes back as it is.
	cancel := errors.New("no terminal")
	if _, err := h.Keyring(func() ([]byte, error) { return nil, cancel }); err != cancel {
		t.Fatalf("failing passphrase: %v", err)
	}
}

func TestRecoverSameUser(t *testing.T) {
	_, kr, err := Init(t.TempDir(), pass("pw"), cryptree.TestKDF)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	h, kr2, err := Recover(dir, kr.RecoverySecret(), pass("other"), cryptree.TestKDF)
	if err != nil {
		t.Fatal(err)
	}
	reopened, err := h.Keyring(pass("other"))
	if err != nil {
		t.Fatal(err)
	}
	if kr2.UserID() != kr.UserID() || reopened.UserID() != kr.UserID() {
		t.Fatalf("recovered user %s / %s, want %s", kr2.UserID(), reopened.UserID(), kr.UserID())
	}
	if _, _, err := Recover(t.TempDir(), "not a secret", noPass(t), cryptree.TestKDF); !errors.Is(err, storage.Invalid) {
		t.Fatalf("a bad secret: %v, want Invalid", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); !errors.Is(err, storage.Invalid) || !errors.Is(err, ErrNotHome) {
		t.Fatalf("Open of an empty folder: %v, want Invalid and ErrNotHome", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"listen": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	if !errors.Is(err, storage.Invalid) || errors.Is(err, ErrNotHome) {
		t.Fatalf("Open with a corrupt config.json: %v, want Invalid, not ErrNotHome", err)
	}
	if want := filepath.Join(dir, ConfigFile); !strings.Contains(err.Error(), want) {
		t.Errorf("the error %q does not name %s", err, want)
	}
	// A config without keyring or node key: those are Invalid, and the
	// passphrase is not asked for a keyring that is not there.
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"created": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Keyring(noPass(t)); !errors.Is(err, storage.Invalid) {
		t.Fatalf("no keyring: %v, want Invalid", err)
	}
	if _, _, err := h.Identity(); !errors.Is(err, storage.Invalid) {
		t.Fatalf("no node key: %v, want Invalid", err)
	}
	if err := os.WriteFile(filepath.Join(dir, IdentityFile), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Identity(); !errors.Is(err, storage.Corrupt) {
		t.Fatalf("a junk node key: %v, want Corrupt", err)
	}
}

func TestSaveConfig(t *testing.T) {
	dir := t.TempDir()
	h, _, err := Init(dir, pass("pw"), cryptree.TestKDF)
	if err != nil {
		t.Fatal(err)
	}
	c := h.Config()
	c.Bootstrap = []string{"/ip4/127.0.0.1/tcp/1"}
	if err := h.SaveConfig(c); err != nil {
		t.Fatal(err)
	}
	h2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := h2.Config(); len(got.Bootstrap) != 1 || got.Created != c.Created {
		t.Fatalf("config after save: %+v", got)
	}
}

// An atomic write leaves the old file or the new one, never a mix, and no
// temporary file behind.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	read := func() string { b, _ := os.ReadFile(p); return string(b) }
	if err := writeFileAtomic(p, []byte("old"), 0o600); err != nil || read() != "old" {
		t.Fatalf("first write: %v, %q", err, read())
	}
	// A temporary file left by a crash is overwritten.
	if err := os.WriteFile(p+".tmp", []byte("half a new fi"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(p, []byte("new"), 0o600); err != nil || read() != "new" {
		t.Fatalf("second write: %v, %q", err, read())
	}
	if _, err := os.Stat(p + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the temporary file stayed: %v", err)
	}
	// A write that cannot create its temporary file leaves the old file.
	if err := os.Mkdir(p+".tmp", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(p, []byte("newer"), 0o600); !errors.Is(err, storage.IO) || read() != "new" {
		t.Fatalf("failed write: %v, file %q; want IO and the old file", err, read())
	}
	os.Remove(p + ".tmp")
	// A write whose rename fails (a folder is in the way) removes its
	// temporary file.
	q := filepath.Join(dir, "d")
	if err := os.MkdirAll(filepath.Join(q, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(q, []byte("x"), 0o600); !errors.Is(err, storage.IO) {
		t.Fatalf("rename over a folder: %v, want IO", err)
	}
	if _, err := os.Stat(q + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the temporary file stayed after a failed rename: %v", err)
	}
}

func TestSocketPath(t *testing.T) {
	if got := SocketPath("/h"); got != filepath.Join("/h", SocketFile) {
		t.Errorf("SocketPath of a short home = %q", got)
	}
	long := "/" + strings.Repeat("x", 120)
	got := SocketPath(long)
	if filepath.Dir(got) != os.TempDir() || len(got) >= 100 || got != SocketPath(long) || got == SocketPath(long+"y") {
		t.Errorf("SocketPath of a long home = %q; want a short, stable name per home in %s", got, os.TempDir())
	}
}
