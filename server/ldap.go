package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/ops"
)

// ldapOptions reads the --ldap-* flags, the bind password file and the CA file.
func ldapOptions(l config.LDAP) (*auth.LDAPOptions, error) {
	o := &auth.LDAPOptions{
		URL: l.URL, StartTLS: l.StartTLS, BindDN: l.BindDN,
		UserBase: l.UserBase, UserFilter: l.UserFilter,
		GroupBase: l.GroupBase, GroupFilter: l.GroupFilter, GroupAttribute: l.GroupAttribute,
		Timeout: l.Timeout,
	}
	if l.BindPasswordFile != "" {
		b, err := os.ReadFile(l.BindPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--ldap-bind-password-file: %w", err)
		}
		if o.BindPassword = strings.TrimRight(string(b), "\r\n"); o.BindPassword == "" {
			return nil, fmt.Errorf("--ldap-bind-password-file %s is empty", l.BindPasswordFile)
		}
	}
	if l.CAFile != "" {
		b, err := os.ReadFile(l.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ldap-ca-file: %w", err)
		}
		o.RootCAs = x509.NewCertPool()
		if !o.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--ldap-ca-file %s holds no PEM certificate", l.CAFile)
		}
	}
	teams, err := auth.ParseTeamMap(l.TeamMap)
	if err != nil {
		return nil, fmt.Errorf("--ldap-team-map: %w", err)
	}
	o.TeamMap = teams
	return o, nil
}

// ldapCheck is the periodic check of the users the directory made, once per period across
// the cluster; none without LDAP sign-in or with --ldap-check-interval 0.
func ldapCheck(cfg config.Config, control *auth.Control) []ops.Periodic {
	if control == nil || control.LDAP == nil || cfg.LDAP.CheckInterval <= 0 {
		return nil
	}
	return []ops.Periodic{{Name: "ldap-check", Interval: cfg.LDAP.CheckInterval, Run: control.LDAP.Check}}
}
