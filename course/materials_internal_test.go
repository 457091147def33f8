package course

import "testing"

func TestUnderRoot(t *testing.T) {
	for in, want := range map[string]string{
		"shared":               "",
		"shared/":              "",
		"shared/week1/":        "week1/",
		"shared/week1/a.ipynb": "week1/a.ipynb",
		"./home/x":             "x",
	} {
		if got := underRoot(in); got != want {
			t.Errorf("underRoot(%q) = %q, want %q", in, got, want)
		}
	}
}
