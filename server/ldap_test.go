package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/auth/ldaptest"
	"github.com/berth-registry/berth/server/config"
)

// TestLDAPOptions: the --ldap-* flags become the sign-in's options — the bind password read
// from its file without the newline, the CA file's certificates, the team map — and files
// that hold nothing usable stop the start with a message naming the flag.
func TestLDAPOptions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caPEM, _, _ := ldaptest.Certificates(t)
	ca := write("ca.pem", caPEM)
	l := config.LDAP{
		URL: "ldaps://ldap.example", BindDN: "cn=berth", BindPasswordFile: write("pw", "s3cret\n"), CAFile: ca,
		UserBase: "ou=people", UserFilter: "(uid=%s)", TeamMap: []string{"devs=web:maintainer"}, Timeout: time.Second,
	}
	o, err := ldapOptions(l)
	if err != nil {
		t.Fatal(err)
	}
	if o.BindPassword != "s3cret" || o.RootCAs == nil || o.TeamMap["devs"].Team != "web" || o.TeamMap["devs"].Role != "maintainer" {
		t.Fatalf("options %+v", o)
	}
	for _, tc := range []struct {
		name   string
		change func(*config.LDAP)
		flag   string
	}{
		{"empty password file", func(l *config.LDAP) { l.BindPasswordFile = write("empty", "\n") }, "--ldap-bind-password-file"},
		{"missing password file", func(l *config.LDAP) { l.BindPasswordFile = filepath.Join(dir, "none") }, "--ldap-bind-password-file"},
		{"CA file without certificates", func(l *config.LDAP) { l.CAFile = write("junk.pem", "not a certificate") }, "--ldap-ca-file"},
		{"team map", func(l *config.LDAP) { l.TeamMap = []string{"devs=web:boss"} }, "--ldap-team-map"},
	} {
		bad := l
		tc.change(&bad)
		if _, err := ldapOptions(bad); err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.flag)
		}
	}
	if got := ldapCheck(config.Config{LDAP: config.LDAP{CheckInterval: time.Hour}}, nil); len(got) != 0 {
		t.Errorf("a check without access control: %+v", got)
	}
}
