package main

import (
	"github.com/labhub/labhub/config"
)

// publicURL returns Labhub's public URL (ending in "/") as serve derives it
// from the settings in cfg, with arg, when not empty, in place of
// --public-url. It returns "" when nothing names it: no --public-url,
// --host-name nor certificate domain, where serve would fall back to its
// listen address, which is no address for an LMS.
func publicURL(cfg *config.Server, common config.Common, arg string) (string, error) {
	if arg != "" {
		cfg.PublicURL = arg
	}
	if cfg.PublicURL == "" && cfg.HostName == "" && len(cfg.TLS.Domains()) == 0 {
		return "", nil
	}
	cfg.Common = common
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	return cfg.PublicURL, nil
}
