package config_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/config"
)

// TestLDAPFlags: LDAP sign-in needs access control, a dialable ldap(s) URL and a user base;
// the filters need their placeholders; flags and BERTH_LDAP_* variables both set it.
func TestLDAPFlags(t *testing.T) {
	base := []string{"--access-control", "--registry", "https://r.example", "--public-url", "https://berth.example"}
	ldap := []string{"--ldap-url", "ldaps://ldap.example:636", "--ldap-user-base", "ou=people,dc=example"}
	with := func(extra ...string) []string { return append(append(append([]string{}, base...), ldap...), extra...) }
	for _, tt := range []struct {
		name string
		args []string
		err  string
	}{
		{"complete", with("--ldap-bind-dn", "cn=berth", "--ldap-bind-password-file", "/run/ldap", "--ldap-team-map", "devs=web:maintainer,ops=ops"), ""},
		{"without access control", append([]string{"--registry", "https://r.example", "--public-url", "https://berth.example"}, ldap...), "needs --access-control"},
		{"flags without a URL", append(append([]string{}, base...), "--ldap-user-base", "ou=people"), "need --ldap-url"},
		{"not an LDAP URL", append(append([]string{}, base...), "--ldap-url", "https://ldap.example", "--ldap-user-base", "ou=p"), "--ldap-url"},
		{"credentials in the URL", append(append([]string{}, base...), "--ldap-url", "ldap://u:p@ldap.example", "--ldap-user-base", "ou=p"), "--ldap-url"},
		{"StartTLS over ldaps", with("--ldap-start-tls"), "--ldap-start-tls"},
		{"bind DN without password file", with("--ldap-bind-dn", "cn=berth"), "go together"},
		{"no user base", append(append([]string{}, base...), "--ldap-url", "ldap://ldap.example"), "--ldap-user-base"},
		{"user filter without %s", with("--ldap-user-filter", "(uid=alice)"), "--ldap-user-filter"},
		{"group filter without a placeholder", with("--ldap-group-base", "ou=groups", "--ldap-group-filter", "(objectClass=group)"), "--ldap-group-filter"},
		{"bad team map", with("--ldap-team-map", "devs"), "--ldap-team-map"},
		{"check too often", with("--ldap-check-interval", "1s"), "--ldap-check-interval"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			c, err := config.Load(tt.args, env(nil), &out)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.LDAP.UserFilter != "(&(objectClass=person)(uid=%s))" || c.LDAP.CheckInterval != time.Hour ||
					!reflect.DeepEqual(c.LDAP.TeamMap, []string{"devs=web:maintainer", "ops=ops"}) {
					t.Fatalf("LDAP config %+v", c.LDAP)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one naming %s", err, tt.err)
			}
		})
	}
	c := load(t, base, map[string]string{
		"BERTH_LDAP_URL": "ldap://ldap.example", "BERTH_LDAP_START_TLS": "true", "BERTH_LDAP_USER_BASE": "ou=people",
		"BERTH_LDAP_GROUP_BASE": "ou=groups", "BERTH_LDAP_TEAM_MAP": "devs=web", "BERTH_LDAP_CHECK_INTERVAL": "0s",
	})
	if !c.LDAP.StartTLS || c.LDAP.GroupBase != "ou=groups" || len(c.LDAP.TeamMap) != 1 || c.LDAP.CheckInterval != 0 {
		t.Fatalf("from the environment: %+v", c.LDAP)
	}
}
