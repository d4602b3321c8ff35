// Package bench holds Cairn's performance harness: a benchmark of the
// primitives the data path is built from (primitives_test.go), so that the
// bound of the encode and decode paths is computed from numbers measured in
// the same run as the pipeline itself, and the scripts that run the
// benchmarks and the end-to-end measurement against a local testnet
// (pipeline.sh, e2e.sh). docs/PERFORMANCE.md reports what they measured.
//
// The package has no API; it exists for its tests and scripts.
package bench
