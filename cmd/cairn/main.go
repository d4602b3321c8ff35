// Command cairn is the Cairn client and daemon.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "cairn: not built yet")
	os.Exit(1)
}
