package auth

import (
	"fmt"
	"strings"
)

// RegistryConfig is what an external distribution registry needs in its config.yml to take
// Berth's tokens and send Berth its events: the auth and notifications sections, and the
// certificate bundle to save as bundlePath. The events bearer token is left as a
// placeholder: it is a secret, and the operator has it in --events-secret-file.
type RegistryConfig struct {
	Realm, Service, Issuer string
	// BundlePath is where the registry will find the bundle.
	BundlePath string
	Bundle     []byte
	// EventsURL is Berth's webhook; empty leaves notifications out.
	EventsURL string
}

// String renders the snippet with instructions as YAML comments.
func (c RegistryConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Paste into the registry's config.yml (distribution 2.8 or 3.x).\n")
	fmt.Fprintf(&b, "auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n", c.Realm, c.Service, c.Issuer, c.BundlePath)
	if c.EventsURL != "" {
		fmt.Fprintf(&b, "notifications:\n  endpoints:\n    - name: berth\n      url: %s\n", c.EventsURL)
		b.WriteString("      headers:\n        Authorization: [\"Bearer <the token in Berth's --events-secret-file>\"]\n")
		b.WriteString("      timeout: 5s\n      threshold: 3\n      backoff: 1s\n")
	}
	fmt.Fprintf(&b, "\n# Save the following as %s. It holds the current and the next signing key;\n", c.BundlePath)
	b.WriteString("# after `berth keys rotate`, write it again (and restart the registry) before the next rotation.\n")
	b.Write(c.Bundle)
	return b.String()
}
