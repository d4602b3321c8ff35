// Command cairn is the Cairn client and daemon: `cairn daemon` runs a node,
// the other commands talk to it over a socket in the home. The command-line
// contract is ../shared/CLI.md; this package is the only one that wires
// implementations together, maps errors to exit codes and draws progress.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
