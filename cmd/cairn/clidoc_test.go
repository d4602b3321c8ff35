package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// docs/CLI.md carries the command-line contract into the repository (a
// clone has no ../shared): it begins with the contract exactly as scripts
// rely on it, when that is beside the repository, and --help points to it.
func TestCLIDocInStep(t *testing.T) {
	doc, err := os.ReadFile("../../docs/CLI.md")
	if err != nil {
		t.Fatalf("docs/CLI.md: %v", err)
	}
	const additions = "\n## Additions in this repository"
	i := bytes.Index(doc, []byte(additions))
	if i < 0 {
		t.Fatalf("docs/CLI.md has no %q section", strings.TrimSpace(additions))
	}
	if shared, err := os.ReadFile("../../../shared/CLI.md"); err == nil {
		if got, want := strings.TrimSpace(string(doc[:i])), strings.TrimSpace(string(shared)); got != want {
			t.Errorf("docs/CLI.md no longer begins with ../shared/CLI.md: copy the contract again, above %q", strings.TrimSpace(additions))
		}
	} else {
		t.Logf("no ../shared/CLI.md beside the repository (%v): checked the additions only", err)
	}
	var out, errOut bytes.Buffer
	run([]string{"cairn", "--help"}, strings.NewReader(""), &out, &errOut)
	if !strings.Contains(out.String(), "docs/CLI.md") {
		t.Errorf("cairn --help does not point to docs/CLI.md:\n%s", out.String())
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil || !bytes.Contains(readme, []byte("docs/CLI.md")) || bytes.Contains(readme, []byte("../shared/CLI.md")) {
		t.Errorf("README.md should point to docs/CLI.md, not ../shared/CLI.md (%v)", err)
	}
}
