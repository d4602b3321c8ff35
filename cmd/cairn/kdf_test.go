package main

import (
	"testing"

	"github.com/cairn-storage/cairn/cryptree"
)

// The binary that ships (built without the cairn_insecure_kdf tag, as this
// test binary is) never makes a weak keyring, whatever the environment
// says.
func TestShippedBinaryIgnoresInsecureKDF(t *testing.T) {
	t.Setenv("CAIRN_INSECURE_TEST_KDF", "1")
	if insecureKDFBuild {
		t.Skip("built with -tags cairn_insecure_kdf")
	}
	if got := kdfParams(); got != cryptree.DefaultKDF {
		t.Fatalf("kdfParams() = %+v with CAIRN_INSECURE_TEST_KDF=1, want the default %+v", got, cryptree.DefaultKDF)
	}
}
