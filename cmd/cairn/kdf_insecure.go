//go:build cairn_insecure_kdf

package main

// insecureKDFBuild is true in binaries built for tests and benchmarks
// (go build -tags cairn_insecure_kdf): CAIRN_INSECURE_TEST_KDF=1 then
// makes new keyrings with cryptree.TestKDF.
const insecureKDFBuild = true
