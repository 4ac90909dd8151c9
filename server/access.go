package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/store"
)

// newAccessControl builds access control from the configuration: the keyring (sealed with
// the cluster secret), the policy, accounts and token service, and the first administrator
// (from --admin-password-file) or the one-time setup link.
func newAccessControl(ctx context.Context, cfg config.Config, st store.Store, limiter *session.Limiter) (*auth.Control, error) {
	accounts, err := store.AccountsOf(st)
	if err != nil {
		return nil, err
	}
	secret, err := clusterSecret(cfg)
	if err != nil {
		return nil, err
	}
	def := auth.Actions(0)
	if cfg.DefaultAccess == "pull" {
		def = auth.Pull
	}
	opts := auth.Options{
		Store: accounts, Secret: secret, Issuer: cfg.TokenIssuer, Service: cfg.TokenService, TTL: cfg.TokenTTL,
		DefaultAccess: def, Limiter: limiter, PATTTL: cfg.PATMaxAge,
		OAuth: auth.OAuthOptions{Origins: cfg.CORSOrigins, RefreshTTL: cfg.SessionTTL},
	}
	if cfg.OIDCIssuer != "" {
		if opts.OIDC, err = oidcOptions(cfg); err != nil {
			return nil, err
		}
	}
	if cfg.LDAP.URL != "" {
		if opts.LDAP, err = ldapOptions(cfg.LDAP); err != nil {
			return nil, err
		}
	}
	control, err := auth.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	password := ""
	if cfg.AdminPasswordFile != "" {
		b, err := os.ReadFile(cfg.AdminPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--admin-password-file: %w", err)
		}
		if password = strings.TrimRight(string(b), "\r\n"); password == "" {
			return nil, fmt.Errorf("--admin-password-file %s is empty", cfg.AdminPasswordFile)
		}
	}
	setup, token, err := auth.Bootstrap(ctx, control.Accounts, cfg.AdminUser, password)
	if err != nil {
		return nil, fmt.Errorf("first administrator: %w", err)
	}
	control.Setup = setup
	control.SetupToken = token
	return control, nil
}

// oidcOptions reads the OpenID Connect flags and the client secret file.
func oidcOptions(cfg config.Config) (*auth.OIDCOptions, error) {
	b, err := os.ReadFile(cfg.OIDCClientSecretFile)
	if err != nil {
		return nil, fmt.Errorf("--oidc-client-secret-file: %w", err)
	}
	secret := strings.TrimRight(string(b), "\r\n")
	if secret == "" {
		return nil, fmt.Errorf("--oidc-client-secret-file %s is empty", cfg.OIDCClientSecretFile)
	}
	teams, err := auth.ParseTeamMap(cfg.OIDCTeamMap)
	if err != nil {
		return nil, fmt.Errorf("--oidc-team-map: %w", err)
	}
	return &auth.OIDCOptions{
		Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: secret,
		RedirectURL: cfg.OIDCCallback(), GroupsClaim: cfg.OIDCGroupsClaim, TeamMap: teams,
	}, nil
}

// announceSetup prints the one-time setup link while no administrator exists. It is the
// one secret Berth writes out, once, for the operator who started it.
func announceSetup(control *auth.Control, uiURL string) {
	if control == nil || control.SetupToken == "" {
		return
	}
	fmt.Fprintf(os.Stderr, "\nNo administrator exists yet. Create one within this run at:\n\n    %s/setup?token=%s\n\n(or restart with --admin-password-file)\n\n", uiURL, control.SetupToken)
	control.SetupToken = ""
}

// writeBundle writes the signing keys' certificate bundle for the embedded registry to
// read (its rootcertbundle), and returns its path.
func writeBundle(ctx context.Context, cfg config.Config, control *auth.Control) (string, error) {
	b, err := control.Keys.Bundle(ctx)
	if err != nil {
		return "", err
	}
	path := filepath.Join(cfg.DataDir, "token-bundle.pem")
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", fmt.Errorf("token certificate bundle: %w", err)
	}
	slog.Debug("token certificate bundle written", "path", path)
	return path, nil
}
