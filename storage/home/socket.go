package home

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
)

// SocketPath returns where the daemon of the home in dir listens. Unix
// socket paths are limited to ~108 bytes; a longer one moves to the temp
// folder under a name derived from the home.
func SocketPath(dir string) string {
	p := filepath.Join(dir, SocketFile)
	if len(p) < 100 {
		return p
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(os.TempDir(), "cairn-"+hex.EncodeToString(sum[:8])+".sock")
}
