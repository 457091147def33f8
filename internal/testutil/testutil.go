// Package testutil holds helpers shared by the tests of several packages:
// access to the real Docker engine and the notebook image the end-to-end
// tests run.
package testutil

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// DefaultImage is the tag scripts/build-notebook-image.sh gives the notebook
// image it builds.
const DefaultImage = "labhub/notebook:bookworm"

// Docker returns a client for the local Docker engine. Under -short it skips
// the test when no engine answers; otherwise it fails, because the full suite
// is meant to run against a real engine (.ci/run starts one).
func Docker(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = cli.Ping(ctx)
	}
	if err != nil {
		if testing.Short() {
			t.Skipf("no Docker engine: %v", err)
		}
		t.Fatalf("no Docker engine answers (%v); start dockerd or run .ci/run", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Image returns the notebook image the tests start, from LABHUB_TEST_IMAGE or
// DefaultImage, and fails the test when the engine does not have it.
func Image(t testing.TB) string {
	t.Helper()
	cli := Docker(t)
	img := os.Getenv("LABHUB_TEST_IMAGE")
	if img == "" {
		img = DefaultImage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, img); err != nil {
		if testing.Short() {
			t.Skipf("image %s missing: %v", img, err)
		}
		t.Fatalf("image %s missing (%v); build it with scripts/build-notebook-image.sh", img, err)
	}
	return img
}

// LookPath fails the test when a program the test needs is not installed.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if testing.Short() {
			t.Skipf("%s not installed", name)
		}
		t.Fatalf("%s not installed; .ci/run installs it", name)
	}
	return p
}
