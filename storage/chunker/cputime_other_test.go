//go:build !unix

package chunker

func cpuSeconds() float64 { return 0 }
