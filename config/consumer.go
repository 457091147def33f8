package config

// DeclareConsumerSecret declares the secret `labhub lti11 add-consumer`
// stores with a consumer key. From the environment it stays out of the
// shell history; the old deployment's LTI_SHARED_SECRET is read too, so a
// migrated .env adds its consumer as it was.
func DeclareConsumerSecret(s *Set, secret *string) {
	s.String(secret, Setting{Flag: "secret", Env: []string{"LABHUB_LTI11_SECRET", "LTI_SHARED_SECRET"},
		Group: "labhub lti11 add-consumer", Secret: true,
		Usage: "Shared secret of the consumer being added (prefer the environment, which keeps it out of the shell history)."})
}
