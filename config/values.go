package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// durationValue is a time.Duration flag that also accepts a bare number of
// seconds.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 {
			return fmt.Errorf("negative duration %q", s)
		}
		*d = durationValue(time.Duration(n * float64(time.Second)))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration (use 90s, 5m, 1h or seconds): %q", s)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", s)
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) Type() string   { return "duration" }

// bytesValue is a byte count written with an optional K, M, G or T suffix
// (powers of 1024, as Docker and DockerSpawner read memory limits).
type bytesValue int64

// ParseBytes reads a byte count such as "512M", "2G", "1.5g" or "1073741824".
func ParseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "B")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || f < 0 {
		return 0, fmt.Errorf("not a byte size (use 512M, 2G or a number of bytes): %q", s)
	}
	if f*float64(mult) > maxBytes {
		return 0, fmt.Errorf("byte size %q is too large (at most 1024T)", s)
	}
	return int64(f * float64(mult)), nil
}

// maxBytes bounds sizes far below where int64 overflows.
const maxBytes = 1 << 50

// maxCores bounds a CPU count; no machine Labhub runs on comes close.
const maxCores = 1024

// ParseCores parses a number of CPU cores ("2", "0.5") into billionths of a
// core, as Docker's NanoCPUs counts them.
func ParseCores(s string) (int64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxCores {
		return 0, fmt.Errorf("not a number of CPU cores from 0 to %d (such as 2 or 0.5): %q", maxCores, s)
	}
	return int64(f * 1e9), nil
}

func (b *bytesValue) Set(s string) error {
	n, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = bytesValue(n)
	return nil
}

func (b *bytesValue) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *bytesValue) Type() string   { return "bytes" }
