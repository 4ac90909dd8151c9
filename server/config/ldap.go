package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// LDAP configures sign-in against an LDAP directory (with access control).
type LDAP struct {
	// URL is the directory server: ldap://host[:port] or ldaps://host[:port]; empty: off.
	URL string
	// StartTLS upgrades an ldap:// connection; CAFile holds the CA certificates (PEM) that
	// verify the server (empty: the system's).
	StartTLS bool
	CAFile   string
	// BindDN and the password in BindPasswordFile are the service account that searches.
	BindDN, BindPasswordFile string
	// UserBase and UserFilter find a user; %s in the filter is the sign-in name.
	UserBase, UserFilter string
	// GroupBase, GroupFilter and GroupAttribute find a user's groups and name them; %s in
	// the filter is the user's DN, %u the sign-in name.
	GroupBase, GroupFilter, GroupAttribute string
	// TeamMap maps groups to teams: group=team or group=team:role.
	TeamMap []string
	// CheckInterval is how often users the directory made are checked against it (0: never).
	CheckInterval time.Duration
	// Timeout bounds one conversation with the directory.
	Timeout time.Duration
}

// defaultLDAP is the LDAP part of Default: OpenLDAP's usual person and group classes.
func defaultLDAP() LDAP {
	return LDAP{
		UserFilter:     "(&(objectClass=person)(uid=%s))",
		GroupFilter:    "(member=%s)",
		GroupAttribute: "cn",
		CheckInterval:  time.Hour,
		Timeout:        10 * time.Second,
	}
}

// flags defines the --ldap-* flags with the helpers Load defines its own with; the
// returned function finishes the values once the flags are parsed.
func (l *LDAP) flags(str func(*string, string, string), boolean func(*bool, string, string),
	duration func(*time.Duration, string, string), list func(name, usage string) *[]string) func() {
	str(&l.URL, "ldap-url", "LDAP directory to sign in with (access control): ldap://host[:port] or ldaps://host[:port]")
	boolean(&l.StartTLS, "ldap-start-tls", "upgrade the ldap:// connection with StartTLS")
	str(&l.CAFile, "ldap-ca-file", "PEM file of the CA certificates that verify the LDAP server (default: the system's)")
	str(&l.BindDN, "ldap-bind-dn", "DN of the service account that searches the directory (empty: anonymous searches)")
	str(&l.BindPasswordFile, "ldap-bind-password-file", "file with the password of --ldap-bind-dn")
	str(&l.UserBase, "ldap-user-base", "where users are searched, e.g. ou=people,dc=example,dc=com")
	str(&l.UserFilter, "ldap-user-filter", "filter finding a user; %s is the sign-in name (escaped)")
	str(&l.GroupBase, "ldap-group-base", "where groups are searched (empty: groups are not read)")
	str(&l.GroupFilter, "ldap-group-filter", "filter finding a user's groups; %s is the user's DN, %u the sign-in name (escaped)")
	str(&l.GroupAttribute, "ldap-group-attribute", "group attribute read as the group's name")
	teams := list("ldap-team-map", "directory groups to teams, comma-separated: group=team or group=team:role (role developer unless given)")
	duration(&l.CheckInterval, "ldap-check-interval", "how often users made by the directory are checked against it: disabled when gone or disabled there (0: only at sign-in)")
	duration(&l.Timeout, "ldap-timeout", "longest one conversation with the LDAP directory may take")
	return func() { l.TeamMap = *teams }
}

// validate checks the --ldap-* flags: a URL Berth can dial, only with access control, the
// filters' placeholders, and the bind DN and password file together.
func (l LDAP) validate(accessControl bool) error {
	if l.URL == "" {
		if l.UserBase != "" || l.BindDN != "" || l.GroupBase != "" || len(l.TeamMap) > 0 || l.StartTLS || l.CAFile != "" {
			return errors.New("--ldap-* flags need --ldap-url")
		}
		return nil
	}
	if !accessControl {
		return errors.New("--ldap-url needs --access-control: the directory signs users in to Berth's own accounts")
	}
	u, err := url.Parse(l.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("--ldap-url %q: want ldap://host[:port] or ldaps://host[:port]", l.URL)
	}
	switch {
	case l.StartTLS && u.Scheme == "ldaps":
		return errors.New("--ldap-start-tls goes with an ldap:// URL; ldaps:// is TLS already")
	case (l.BindDN == "") != (l.BindPasswordFile == ""):
		return errors.New("--ldap-bind-dn and --ldap-bind-password-file go together")
	case l.UserBase == "":
		return errors.New("--ldap-url needs --ldap-user-base")
	case !strings.Contains(l.UserFilter, "%s"):
		return fmt.Errorf("--ldap-user-filter %q: put %%s where the sign-in name goes", l.UserFilter)
	case l.GroupBase != "" && !strings.Contains(l.GroupFilter, "%s") && !strings.Contains(l.GroupFilter, "%u"):
		return fmt.Errorf("--ldap-group-filter %q: put %%s where the user's DN goes (or %%u for the sign-in name)", l.GroupFilter)
	case l.GroupAttribute == "":
		return errors.New("--ldap-group-attribute must not be empty")
	case l.CheckInterval < 0 || (l.CheckInterval > 0 && l.CheckInterval < time.Minute):
		return errors.New("--ldap-check-interval must be 0 (off) or at least 1m")
	case l.Timeout < time.Second || l.Timeout > 5*time.Minute:
		return errors.New("--ldap-timeout must be between 1s and 5m")
	}
	for _, m := range l.TeamMap {
		group, team, ok := strings.Cut(m, "=")
		if !ok || group == "" || team == "" || strings.HasSuffix(team, ":") {
			return fmt.Errorf("--ldap-team-map entry %q: want group=team or group=team:role", m)
		}
	}
	return nil
}
