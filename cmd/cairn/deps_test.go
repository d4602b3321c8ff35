package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyArrows keeps the package graph as docs/DESIGN.md draws it:
// leaves import no Cairn package, the vocabulary only the standard library,
// and each outside library has one owner.
func TestDependencyArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/cairn-storage/cairn/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/cairn-storage/cairn"
	leaves := map[string]bool{"erasure": true, "cryptree": true, "fairness": true, "reputation": true}
	owners := map[string][]string{ // outside library → packages allowed to import it (prefixes)
		"github.com/libp2p/":               {"network"},
		"github.com/multiformats/":         {"network"},
		"github.com/dgraph-io/badger":      {"storage/badgerstore"},
		"github.com/klauspost/reedsolomon": {"erasure"},
		"bazil.org/fuse":                   {"fuse"},
		"github.com/urfave/cli":            {"cmd/cairn"},
		"golang.org/x/crypto":              {"cryptree"},
		"github.com/zeebo/blake3":          {"erasure", "cryptree", "storage/rendezvous"},
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(f[0], mod), "/")
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, mod) {
				dep := strings.TrimPrefix(strings.TrimPrefix(imp, mod), "/")
				if leaves[strings.Split(pkg, "/")[0]] {
					t.Errorf("%s is a leaf but imports %s", pkg, dep)
				}
				if pkg == "storage" {
					t.Errorf("the vocabulary (storage) imports %s", dep)
				}
				if strings.HasPrefix(dep, "cmd/") {
					t.Errorf("%s imports a command", pkg)
				}
				continue
			}
			for lib, allowed := range owners {
				if !strings.HasPrefix(imp, lib) {
					continue
				}
				ok := false
				for _, a := range allowed {
					if pkg == a || strings.HasPrefix(pkg, a+"/") {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s imports %s, which only %v may", pkg, imp, allowed)
				}
			}
			if pkg == "storage" && strings.Contains(strings.Split(imp, "/")[0], ".") {
				t.Errorf("the vocabulary (storage) imports %s", imp)
			}
		}
	}
}
