// Package config declares every Labhub setting exactly once: its flag, the
// environment variables that set it (Labhub's own name first, then the names
// the old JupyterHub Docker Compose deployment used), its default and its
// description. Commands bind the declarations to their flag sets; the README's
// configuration reference is generated from the same table.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Setting describes one configuration value.
type Setting struct {
	// Flag is the long flag name without dashes.
	Flag string
	// Env lists the environment variables that set the value when the flag is
	// not given, in order of precedence.
	Env []string
	// Default is the value used when neither flag nor environment sets it.
	Default string
	// Usage is one sentence for --help and the configuration reference.
	Usage string
	// Group names the section of the configuration reference.
	Group string
	// Secret marks values that must never be printed.
	Secret bool
	// ForgiveOldEnv makes a value that does not parse from one of the old
	// deployment's names (every Env name but the first) a warning instead of
	// an error: the setting keeps its default, so a migrated deployment
	// still starts.
	ForgiveOldEnv bool
}

// EnvWarning is an environment value ApplyEnv ignored.
type EnvWarning struct {
	Env, Value string
	Err        error
}

// Set is a group of settings bound to one flag set.
type Set struct {
	fs       *pflag.FlagSet
	settings []Setting
	warnings []EnvWarning
}

// Warnings returns the environment values the last ApplyEnv ignored, for
// the caller to log.
func (s *Set) Warnings() []EnvWarning { return s.warnings }

// NewSet returns a Set that declares its settings on fs.
func NewSet(fs *pflag.FlagSet) *Set { return &Set{fs: fs} }

// Settings returns the declared settings in declaration order.
func (s *Set) Settings() []Setting { return s.settings }

func (s *Set) add(st Setting) {
	s.settings = append(s.settings, st)
	if st.Default != "" {
		s.fs.Lookup(st.Flag).DefValue = st.Default
	}
	ann := append([]string{}, st.Env...)
	_ = s.fs.SetAnnotation(st.Flag, "env", ann)
	f := s.fs.Lookup(st.Flag)
	// pflag would take a back-quoted word of the usage for the flag's value
	// name (--grade-poll labhub grade); the help text quotes it plainly, and
	// the value name stays the type. Markdown keeps the back quotes.
	f.Usage = strings.ReplaceAll(st.Usage, "`", "'")
	if len(st.Env) > 0 {
		f.Usage = fmt.Sprintf("%s (env %s)", f.Usage, strings.Join(st.Env, ", "))
	}
}

// String declares a string setting stored in p.
func (s *Set) String(p *string, st Setting) {
	s.fs.StringVar(p, st.Flag, st.Default, st.Usage)
	s.add(st)
}

// Bool declares a boolean setting stored in p.
func (s *Set) Bool(p *bool, st Setting) {
	s.fs.BoolVar(p, st.Flag, st.Default == "true", st.Usage)
	s.add(st)
}

// Int declares an integer setting stored in p.
func (s *Set) Int(p *int, st Setting) {
	d, _ := strconv.Atoi(st.Default)
	s.fs.IntVar(p, st.Flag, d, st.Usage)
	s.add(st)
}

// Float declares a floating-point setting stored in p.
func (s *Set) Float(p *float64, st Setting) {
	d, _ := strconv.ParseFloat(st.Default, 64)
	s.fs.Float64Var(p, st.Flag, d, st.Usage)
	s.add(st)
}

// Duration declares a duration setting stored in p. Plain integers are read
// as seconds, as the old deployment's variables were.
func (s *Set) Duration(p *time.Duration, st Setting) {
	v := (*durationValue)(p)
	if st.Default != "" {
		if err := v.Set(st.Default); err != nil {
			panic(fmt.Sprintf("config: default of %s: %v", st.Flag, err))
		}
	}
	s.Var(v, st)
}

// Bytes declares a byte-size setting ("512M", "2G", "1073741824") stored in p.
func (s *Set) Bytes(p *int64, st Setting) {
	v := (*bytesValue)(p)
	if st.Default != "" {
		if err := v.Set(st.Default); err != nil {
			panic(fmt.Sprintf("config: default of %s: %v", st.Flag, err))
		}
	}
	s.Var(v, st)
}

// Var declares a setting of any pflag.Value type stored in v; v must already
// hold the default.
func (s *Set) Var(v pflag.Value, st Setting) {
	s.fs.Var(v, st.Flag, st.Usage)
	s.add(st)
}

// ApplyEnv sets every flag that was not given on the command line from the
// first of its environment variables that lookup finds. A value that does not
// parse is an error naming the variable, except under an old name of a
// setting with ForgiveOldEnv: that one is skipped and listed in Warnings.
func (s *Set) ApplyEnv(lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	s.warnings = nil
	for _, st := range s.settings {
		f := s.fs.Lookup(st.Flag)
		if f == nil || f.Changed {
			continue
		}
		for i, name := range st.Env {
			v, ok := lookup(name)
			if !ok {
				continue
			}
			err := f.Value.Set(v)
			if err != nil && st.ForgiveOldEnv && i > 0 {
				s.warnings = append(s.warnings, EnvWarning{Env: name, Value: v, Err: err})
				continue
			}
			if err != nil {
				return fmt.Errorf("environment variable %s: %w", name, err)
			}
			break
		}
	}
	return nil
}

// Markdown renders the settings as the configuration reference table.
func Markdown(settings []Setting) string {
	groups := map[string][]Setting{}
	var order []string
	for _, st := range settings {
		if _, ok := groups[st.Group]; !ok {
			order = append(order, st.Group)
		}
		groups[st.Group] = append(groups[st.Group], st)
	}
	var b strings.Builder
	for _, g := range order {
		fmt.Fprintf(&b, "\n#### %s\n\n| flag | environment | default | meaning |\n|---|---|---|---|\n", g)
		for _, st := range groups[g] {
			env := make([]string, len(st.Env))
			for i, e := range st.Env {
				env[i] = "`" + e + "`"
			}
			def := st.Default
			if def != "" {
				def = "`" + def + "`"
			}
			usage := strings.NewReplacer("|", "\\|", "<", "&lt;", ">", "&gt;").Replace(st.Usage)
			fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", st.Flag, strings.Join(env, ", "), def, usage)
		}
	}
	return b.String()
}
