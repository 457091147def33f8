package lms

import (
	"crypto/rand"
	"crypto/rsa"
	"os"
	"sync/atomic"
	"testing"
)

// testKeys are generated once; platforms and fake tools take them in turn,
// so consecutive keys differ.
var (
	testKeys    []*rsa.PrivateKey
	nextTestKey atomic.Int64
)

func TestMain(m *testing.M) {
	for range 8 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKeys = append(testKeys, k)
	}
	generateRSAKey = func() (*rsa.PrivateKey, error) { return testKey(), nil }
	os.Exit(m.Run())
}

func testKey() *rsa.PrivateKey {
	return testKeys[int(nextTestKey.Add(1))%len(testKeys)]
}
