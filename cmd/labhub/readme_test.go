package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/config"
)

const settingsBegin, settingsEnd = "<!-- settings:begin -->\n", "<!-- settings:end -->"

// The README's configuration reference is what `labhub settings` prints.
// Run with LABHUB_UPDATE_README=1 to rewrite it.
func TestREADMESettings(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	readme := string(raw)
	i, j := strings.Index(readme, settingsBegin), strings.Index(readme, settingsEnd)
	require.True(t, i >= 0 && j > i, "README lacks the settings markers")
	want := config.Markdown(allSettings())
	if os.Getenv("LABHUB_UPDATE_README") == "1" {
		readme = readme[:i+len(settingsBegin)] + want + readme[j:]
		require.NoError(t, os.WriteFile("../../README.md", []byte(readme), 0o644))
		return
	}
	require.Equal(t, want, readme[i+len(settingsBegin):j], "README settings are stale: LABHUB_UPDATE_README=1 go test ./cmd/labhub")
}
