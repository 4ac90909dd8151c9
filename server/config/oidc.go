package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// validateOIDC checks the OpenID Connect flags: all of issuer, client id and secret or none,
// only with access control, and a callback URL Berth can name.
func (c *Config) validateOIDC() error {
	if c.OIDCIssuer == "" {
		if c.OIDCClientID != "" || c.OIDCClientSecretFile != "" || len(c.OIDCTeamMap) > 0 || c.OIDCRedirectURL != "" {
			return errors.New("--oidc-client-id, --oidc-client-secret-file, --oidc-team-map and --oidc-redirect-url need --oidc-issuer")
		}
		return nil
	}
	if !c.AccessControl {
		return errors.New("--oidc-issuer needs --access-control: OpenID Connect signs users in to Berth's own accounts")
	}
	if u, err := url.Parse(c.OIDCIssuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--oidc-issuer %q: want a URL such as https://login.example.com", c.OIDCIssuer)
	}
	if c.OIDCClientID == "" || c.OIDCClientSecretFile == "" {
		return errors.New("--oidc-issuer needs --oidc-client-id and --oidc-client-secret-file")
	}
	if c.OIDCGroupsClaim == "" {
		return errors.New("--oidc-groups-claim must not be empty")
	}
	if c.OIDCRedirectURL == "" && c.PublicURL == "" {
		return errors.New("--oidc-issuer needs --oidc-redirect-url or --public-url: the callback the provider sends users back to")
	}
	if c.OIDCRedirectURL != "" {
		if u, err := url.Parse(c.OIDCRedirectURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--oidc-redirect-url %q: want a URL such as https://berth.example.com/auth/oidc/callback", c.OIDCRedirectURL)
		}
	}
	for _, m := range c.OIDCTeamMap {
		group, team, ok := strings.Cut(m, "=")
		if !ok || group == "" || team == "" || strings.HasSuffix(team, ":") {
			return fmt.Errorf("--oidc-team-map entry %q: want group=team or group=team:role", m)
		}
	}
	return nil
}

// OIDCCallback is the URL the OpenID Connect provider sends users back to.
func (c Config) OIDCCallback() string {
	if c.OIDCRedirectURL != "" {
		return c.OIDCRedirectURL
	}
	return strings.TrimRight(c.PublicURL, "/") + "/auth/oidc/callback"
}
