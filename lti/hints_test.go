package lti_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

// Every error code the package declares is in lti.Codes and has a hint
// that tells the administrator what to check: a code added without one
// fails here.
func TestEveryCodeHasAHint(t *testing.T) {
	t.Parallel()
	pkgs, err := parser.ParseDir(token.NewFileSet(), ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	require.NoError(t, err)
	var declared []string
	for _, f := range pkgs["lti"].Files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !strings.HasPrefix(n.Name, "Code") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					require.True(t, ok, "%s is a string literal", n.Name)
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					declared = append(declared, v)
				}
			}
		}
	}
	require.NotEmpty(t, declared)
	slices.Sort(declared)
	listed := slices.Clone(lti.Codes)
	slices.Sort(listed)
	require.Equal(t, declared, listed, "lti.Codes lists every declared code")
	for _, c := range lti.Codes {
		require.NotEmpty(t, lti.HintFor(c), "code %s has a hint", c)
	}
}
