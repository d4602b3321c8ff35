package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cairn-storage/cairn/network"
)

// A node that cannot start (its database is taken) says why, with a hint,
// and leaves nothing running; it used to dereference the nil node its
// deferred cleanup was given.
func TestStartNodeFailsCleanly(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	ident, err := network.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	cfg := nodeConfig{Home: home, Identity: ident, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}
	n, err := startNode(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var h hinted
	if _, err := startNode(ctx, cfg); !errors.As(err, &h) || !strings.Contains(h.hint, "another cairn daemon") {
		t.Fatalf("a second node on one home: %v", err)
	}
}
