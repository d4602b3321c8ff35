package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/home"
)

// The home's files and their formats are storage/home's; cmd asks for the
// passphrase, decides the KDF this binary may use and adds the hints.
const dbDir = home.DBDir

// openHome opens the home in dir, with advice when it is not one.
func openHome(dir string) (*home.Home, error) {
	h, err := home.Open(dir)
	switch {
	case errors.Is(err, home.ErrNotHome):
		return nil, withHint(err, "create one with 'cairn init' (or pick another with --home)")
	case storage.KindOf(err) == storage.Invalid:
		return nil, withHint(err, "fix or remove the file")
	}
	return h, err
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
	if f := globalString(c, "passphrase-file"); f != "" {
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
	read := func(question string) ([]byte, error) {
		fmt.Fprint(e.stderr, question)
		p, err := term.ReadPassword(fd)
		fmt.Fprintln(e.stderr)
		if err != nil {
			return nil, storage.E("read passphrase", storage.IO, err)
		}
		return p, nil
	}
	p, err := read("Keyring passphrase: ")
	if err != nil {
		return nil, err
	}
	if confirm {
		q, err := read("Again: ")
		if err != nil {
			return nil, err
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

// openIdentity opens the home's keyring, asking for the passphrase once
// the file is found, and reads the node's libp2p key.
func openIdentity(c *cli.Context, e *env, h *home.Home) (*cryptree.Keyring, []byte, error) {
	kr, err := h.Keyring(func() ([]byte, error) { return passphrase(c, e, false) })
	var key []byte
	if err == nil {
		key, _, err = h.Identity()
	}
	switch storage.KindOf(err) {
	case storage.Invalid:
		return nil, nil, withHint(err, "create a home with 'cairn init'")
	case storage.CannotDecrypt:
		return nil, nil, withHint(err, "check CAIRN_PASSPHRASE / --passphrase-file")
	}
	return kr, key, err
}

// parseSize reads a size given on the command line: a bad one is a usage
// error, in the library's words.
func parseSize(s string) (int64, error) {
	n, err := home.ParseSize(s)
	if err != nil {
		return 0, usagef("%v", errors.Unwrap(err))
	}
	return n, nil
}

func formatSize(n int64) string { return home.FormatSize(n) }
