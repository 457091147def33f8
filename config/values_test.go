package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/config"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"512M": 512 << 20, "2G": 2 << 30, "1.5g": 3 << 29, "100": 100, "0": 0, "4GB": 4 << 30} {
		got, err := config.ParseBytes(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "abc", "-1G", "NaN", "Inf", "+Inf", "99999999999999999999G", "2000T"} {
		_, err := config.ParseBytes(in)
		require.Error(t, err, in)
	}
}

func TestParseCores(t *testing.T) {
	for in, want := range map[string]int64{"2": 2e9, "0.5": 5e8, " 1 ": 1e9, "0": 0, "1024": 1024e9} {
		got, err := config.ParseCores(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "two", "-1", "NaN", "Inf", "1025", "1e300"} {
		_, err := config.ParseCores(in)
		require.Error(t, err, in)
	}
}
