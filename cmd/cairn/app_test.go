package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/drive"
)

// One table maps kinds to the contract's exit codes (docs/CLI.md).
func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{usagef("bad flag"), exitUsage},
		{storage.E("x", storage.Invalid, nil), exitUsage},
		{storage.E("commit", storage.IsDir, nil), exitUsage},
		{storage.E("mkdir", storage.NotDir, nil), exitUsage},
		{storage.E("remove", storage.NotEmpty, nil), exitUsage},
		{storage.E("stat", storage.NotExist, nil), exitNotFound},
		{storage.E("admit", storage.Quota, nil), exitQuota},
		{storage.E("put", storage.Unavailable, nil), exitUnavailable},
		{storage.E("get", storage.CannotDecrypt, nil), exitIntegrity},
		{storage.E("get", storage.Corrupt, nil), exitIntegrity},
		{storage.E("mkdir", storage.Exist, nil), exitFailure},
		{storage.E("put", storage.Permission, nil), exitFailure},
		{fmt.Errorf("wrapped: %w", storage.E("rm", storage.NotEmpty, nil)), exitUsage},
		{withHint(storage.E("x", storage.NotDir, nil), "a hint"), exitUsage},
		{errors.New("plain"), exitFailure},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	// A kind survives the socket, and a drive that is not open yet says
	// what to do.
	notOpen := storage.E("open drive", storage.Unavailable, fmt.Errorf("%w: no peers", drive.ErrNotOpen))
	ae := toAPIError(notOpen)
	if got := ae.err(); exitCode(got) != exitUnavailable || ae.Hint == "" {
		t.Errorf("not-open error over the socket: %v (exit %d), hint %q", got, exitCode(got), ae.Hint)
	}
	if got := toAPIError(storage.E("rm", storage.NotEmpty, nil)).err(); exitCode(got) != exitUsage {
		t.Errorf("NotEmpty over the socket: exit %d", exitCode(got))
	}
}
