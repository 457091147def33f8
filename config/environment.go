package config

// EnvironmentSettings are the administrator's bounds on what courses may
// choose for their environment.
type EnvironmentSettings struct {
	// AllowOutside lets instructors give their course's servers access
	// outside the host.
	AllowOutside bool
}

// declareEnvironment declares the settings of c on s.
func declareEnvironment(s *Set, c *EnvironmentSettings) {
	s.Bool(&c.AllowOutside, Setting{Flag: "allow-outside-access", Env: []string{"LABHUB_ALLOW_OUTSIDE_ACCESS"},
		Default: "false", Group: "Notebook servers",
		Usage: "Let instructors choose outside access (a route to the internet) for their course's servers; without it servers reach only Labhub and, on a course network, each other."})
}
