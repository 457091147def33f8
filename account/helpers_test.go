package account_test

import (
	"io"
	"strings"
)

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func toUpperNoDash(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "")) }
