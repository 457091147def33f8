package seal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const testKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func TestSealOpen(t *testing.T) {
	k, err := New(testKey)
	require.NoError(t, err)
	sealed, err := k.Seal("consumer-secret", []byte("s3cret"))
	require.NoError(t, err)
	require.False(t, bytes.Contains(sealed, []byte("s3cret")))

	pt, err := k.Open("consumer-secret", sealed)
	require.NoError(t, err)
	require.Equal(t, "s3cret", string(pt))

	_, err = k.Open("tool-key", sealed)
	require.ErrorIs(t, err, ErrOpen, "a value sealed under one label must not open under another")

	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		_, err = k.Open("consumer-secret", bad)
		require.ErrorIs(t, err, ErrOpen, "flipped byte %d", i)
	}
	_, err = k.Open("consumer-secret", sealed[:5])
	require.ErrorIs(t, err, ErrOpen)

	other, err := New("a passphrase that is long enough to be a key!")
	require.NoError(t, err)
	_, err = other.Open("consumer-secret", sealed)
	require.ErrorIs(t, err, ErrOpen)
}

func TestNewRejectsWeakKeys(t *testing.T) {
	for _, s := range []string{"", "short", "00112233", "   "} {
		_, err := New(s)
		require.Error(t, err, "%q", s)
	}
}

func TestDeriveIndependent(t *testing.T) {
	k, err := New(testKey)
	require.NoError(t, err)
	a, b := k.Derive("cookie", 32), k.Derive("lti-state", 32)
	require.NotEqual(t, a, b)
	require.Equal(t, a, k.Derive("cookie", 32))
}

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	k1, created, err := LoadOrCreate("", dir)
	require.NoError(t, err)
	require.True(t, created)
	fi, err := os.Stat(filepath.Join(dir, "secret.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	sealed, err := k1.Seal("x", []byte("v"))
	require.NoError(t, err)
	k2, created, err := LoadOrCreate("", dir)
	require.NoError(t, err)
	require.False(t, created)
	pt, err := k2.Open("x", sealed)
	require.NoError(t, err)
	require.Equal(t, "v", string(pt))

	require.NoError(t, os.Chmod(filepath.Join(dir, "secret.key"), 0o644))
	_, _, err = LoadOrCreate("", dir)
	require.ErrorContains(t, err, "readable by others")

	k3, created, err := LoadOrCreate(testKey, t.TempDir())
	require.NoError(t, err)
	require.False(t, created)
	require.NotNil(t, k3)
}
