package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestImageCommands(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (string, error) {
		t.Helper()
		return labhub(t, nil, append(args, "--data-dir", dir)...)
	}
	out, err := run("image", "add", "net-lab", "127.0.0.1:5000/netlab:1", "--description", "Networking",
		"--mem-default", "512M", "--mem-max", "2G", "--cpu-max", "2")
	require.NoError(t, err, out)
	out, err = run("image", "add", "net-lab", "127.0.0.1:5000/netlab:2")
	require.NoError(t, err, out)
	out, err = run("image", "list")
	require.NoError(t, err, out)
	require.Contains(t, out, "127.0.0.1:5000/netlab:2")
	require.Contains(t, out, "512M/2G", "limits not given again stay")
	require.Contains(t, out, "default/2")
	require.Contains(t, out, "Networking")

	out, err = run("image", "add", "Bad Name!", "x")
	require.Error(t, err, out)
	require.Contains(t, err.Error(), "lower-case letters")
	out, err = run("image", "add", "big", "ref:1", "--mem-default", "4G", "--mem-max", "1G")
	require.Error(t, err, out)
	require.Contains(t, err.Error(), "must not exceed the maximum")

	// Names are case-insensitive on every command.
	out, err = run("image", "add", "NB2", "ref:2")
	require.NoError(t, err, out)
	require.Contains(t, out, "image nb2 ")
	out, err = run("image", "add", "Nb2", "ref:3")
	require.NoError(t, err, out)
	out, err = run("image", "list")
	require.NoError(t, err, out)
	require.Contains(t, out, "ref:3")
	require.NotContains(t, out, "ref:2")
	out, err = run("image", "remove", "NB2")
	require.NoError(t, err, out)
	out, err = run("image", "pull", "NB2")
	require.ErrorContains(t, err, `no image "NB2"`, out)

	out, err = run("image", "remove", "net-lab")
	require.NoError(t, err, out)
	out, err = run("image", "remove", "net-lab")
	require.ErrorContains(t, err, "no image")
	out, err = run("course", "delete", "nothing")
	require.ErrorContains(t, err, "--yes")
}
