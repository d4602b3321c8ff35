//go:build !cairn_insecure_kdf

package main

// insecureKDFBuild is false in the shipped binary: CAIRN_INSECURE_TEST_KDF
// is ignored (kdf_insecure.go).
const insecureKDFBuild = false
