package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// GoImage is the tag scripts/build-go-image.sh gives the image that runs
// the build stage of Labhub's Dockerfile without a registry.
const GoImage = "labhub/golang:bookworm"

// LabhubImage builds Labhub's own image from the repository's Dockerfile
// (the engine's layer cache makes repeated builds cheap) and returns its
// tag. The build stage runs in $LABHUB_TEST_GO_IMAGE or GoImage, which must
// exist.
func LabhubImage(t testing.TB) string {
	t.Helper()
	cli := Docker(t)
	goImage := os.Getenv("LABHUB_TEST_GO_IMAGE")
	if goImage == "" {
		goImage = GoImage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, goImage); err != nil {
		t.Fatalf("build image %s missing (%v); make it with scripts/build-go-image.sh", goImage, err)
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	const tag = "labhub/labhub:test"
	cmd := exec.Command("docker", "build", "-q", "--build-arg", "GO_IMAGE="+goImage, "--build-arg", "VERSION=test",
		"-t", tag, root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	return tag
}
