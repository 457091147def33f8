package config

import (
	"fmt"
	"regexp"
)

// publicVersion is a PEP 440 public version in the form JupyterHub
// releases use: N(.N)*[{a|b|rc}N][.postN][.devN].
var publicVersion = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?$`)

// ValidVersion checks that v is a PEP 440 public version such as 5.3.0 or
// 5.0.0b1, as jupyterhub-singleuser compares the hub's version with its own.
func ValidVersion(v string) error {
	if !publicVersion.MatchString(v) {
		return fmt.Errorf("%q is not a PEP 440 version such as 5.3.0 or 5.0.0b1", v)
	}
	return nil
}

// versionValue is a string flag that holds a PEP 440 public version.
type versionValue string

func (v *versionValue) Set(s string) error {
	if err := ValidVersion(s); err != nil {
		return err
	}
	*v = versionValue(s)
	return nil
}

func (v *versionValue) String() string { return string(*v) }
func (v *versionValue) Type() string   { return "version" }

// Version declares a PEP 440 version setting stored in p.
func (s *Set) Version(p *string, st Setting) {
	*p = st.Default
	s.Var((*versionValue)(p), st)
}
