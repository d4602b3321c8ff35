package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/network"
	"github.com/cairn-storage/cairn/storage"
)

// The home holds, as files: config.json, keyring (sealed under the
// passphrase), node.key (the libp2p identity), and db/ (all data). Deleting
// db/ loses stored data and caches, never the identity or keys.
const (
	configFile  = "config.json"
	keyringFile = "keyring"
	nodeKeyFile = "node.key"
	dbDir       = "db"
	sockFile    = "daemon.sock"
	sockAddr    = "daemon.addr" // where the socket is when the home path is too long for one
)

// config is the home's config.json: defaults for `cairn daemon`.
type config struct {
	Listen     []string `json:"listen,omitempty"`
	Bootstrap  []string `json:"bootstrap,omitempty"`
	Contribute string   `json:"contribute,omitempty"`
	Grace      string   `json:"grace,omitempty"`
	MDNS       *bool    `json:"mdns,omitempty"`
	Created    int64    `json:"created"` // Unix seconds of init
}

func loadConfig(home string) (*config, error) {
	b, err := os.ReadFile(filepath.Join(home, configFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, withHint(storage.E("open home", storage.Invalid, fmt.Errorf("%s is not a cairn home", home)),
			"create one with 'cairn init' (or pick another with --home)")
	}
	if err != nil {
		return nil, storage.E("read config", storage.IO, err)
	}
	var c config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, withHint(storage.E("read config", storage.Invalid, fmt.Errorf("%s: %v", filepath.Join(home, configFile), err)),
			"fix or remove the file")
	}
	return &c, nil
}

func saveConfig(home string, c *config) error {
	b, _ := json.MarshalIndent(c, "", "  ")
	return writeFileAtomic(filepath.Join(home, configFile), append(b, '\n'), 0o600)
}

// writeFileAtomic writes via a temporary file and a rename, so a crash
// leaves the old file or the new one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return storage.E("write "+filepath.Base(path), storage.IO, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return storage.E("write "+filepath.Base(path), storage.IO, err)
	}
	return nil
}

// kdfParams are Argon2id's parameters for new keyring files. A binary
// built with the tag cairn_insecure_kdf (the end-to-end tests and
// bench/e2e.sh build one) makes them cheap when CAIRN_INSECURE_TEST_KDF=1;
// the shipped binary ignores that variable and can never make a weak
// keyring.
func kdfParams() cryptree.KDFParams {
	if insecureKDFBuild && os.Getenv("CAIRN_INSECURE_TEST_KDF") == "1" {
		return cryptree.TestKDF
	}
	return cryptree.DefaultKDF
}

// passphrase finds the keyring passphrase: $CAIRN_PASSPHRASE, else
// --passphrase-file, else a prompt on a terminal. confirm asks twice.
func passphrase(c *cli.Context, e *env, confirm bool) ([]byte, error) {
	if p, ok := os.LookupEnv("CAIRN_PASSPHRASE"); ok {
		return []byte(p), nil
	}
	if f := passphraseFile(c); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, withHint(usagef("cannot read passphrase file: %v", err), "check --passphrase-file")
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, withHint(usagef("no passphrase for the keyring"),
			"set CAIRN_PASSPHRASE or give --passphrase-file FILE (no terminal to prompt on)")
	}
	fmt.Fprint(e.stderr, "Keyring passphrase: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, storage.E("read passphrase", storage.IO, err)
	}
	if confirm {
		fmt.Fprint(e.stderr, "Again: ")
		q, err := term.ReadPassword(fd)
		fmt.Fprintln(e.stderr)
		if err != nil {
			return nil, storage.E("read passphrase", storage.IO, err)
		}
		if string(p) != string(q) {
			return nil, usagef("the passphrases differ")
		}
	}
	return p, nil
}

// prompt reads one line from a terminal, or fails with hint.
func prompt(e *env, question, hint string) (string, error) {
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return "", withHint(usagef("%s: no terminal to ask on", strings.TrimSuffix(question, ": ")), hint)
	}
	fmt.Fprint(e.stderr, question)
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", storage.E("read answer", storage.IO, err)
	}
	return strings.TrimSpace(line), nil
}

// openKeyring reads and opens the home's keyring.
func openKeyring(c *cli.Context, e *env, home string) (*cryptree.Keyring, error) {
	b, err := os.ReadFile(filepath.Join(home, keyringFile))
	if err != nil {
		return nil, withHint(storage.E("open keyring", storage.Invalid, err), "create a home with 'cairn init'")
	}
	p, err := passphrase(c, e, false)
	if err != nil {
		return nil, err
	}
	kr, err := cryptree.ParseKeyringFile(b, p)
	if errors.Is(err, cryptree.ErrCannotDecrypt) {
		return nil, withHint(storage.E("open keyring", storage.CannotDecrypt, errors.New("wrong passphrase or damaged keyring")),
			"check CAIRN_PASSPHRASE / --passphrase-file")
	}
	if err != nil {
		return nil, storage.E("open keyring", storage.Corrupt, err)
	}
	return kr, nil
}

// nodeIdentity reads the node's libp2p key.
func nodeIdentity(home string) ([]byte, storage.PeerID, error) {
	key, err := os.ReadFile(filepath.Join(home, nodeKeyFile))
	if err != nil {
		return nil, "", withHint(storage.E("read node key", storage.Invalid, err), "create a home with 'cairn init'")
	}
	id, err := network.IdentityPeerID(key)
	if err != nil {
		return nil, "", storage.E("read node key", storage.Corrupt, err)
	}
	return key, id, nil
}

// parseSize reads sizes like 500MiB, 2GB, 1.5GiB, 1024 (bytes).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, usagef("empty size")
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, usagef("bad size %q: want a number and a unit like 500MiB or 2GB", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}[unit]
	if mult == 0 {
		return 0, usagef("bad size %q: unknown unit %q (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", s, unit)
	}
	return int64(v * mult), nil
}

// formatSize prints bytes in binary units.
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
