// Command cairn is the Cairn client and daemon: `cairn daemon` runs a node,
// the other commands talk to it over a socket in the home. The command-line
// contract is docs/CLI.md; this package is the only one that wires
// implementations together, maps errors to exit codes and draws progress.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

func main() {
	// CAIRN_CPUPROFILE=FILE writes a CPU profile of the whole run (for the
	// benchmarks under bench/).
	if p := os.Getenv("CAIRN_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			code := run(os.Args, os.Stdin, os.Stdout, os.Stderr)
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(code)
		}
		fmt.Fprintf(os.Stderr, "cairn: cannot write CPU profile %s\n", p)
	}
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
