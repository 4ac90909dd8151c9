package ldaptest

import (
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Modify replaces attr of the entry dn with values (none: removes it), as the root account.
func (s *Server) Modify(t testing.TB, dn, attr string, values ...string) {
	t.Helper()
	conn := s.admin(t)
	defer conn.Close()
	req := ldap.NewModifyRequest(dn, nil)
	if len(values) == 0 {
		req.Delete(attr, nil)
	} else {
		req.Replace(attr, values)
	}
	if err := conn.Modify(req); err != nil {
		t.Fatalf("modify %s %s: %v", dn, attr, err)
	}
}

// Delete removes the entry dn, as the root account.
func (s *Server) Delete(t testing.TB, dn string) {
	t.Helper()
	conn := s.admin(t)
	defer conn.Close()
	if err := conn.Del(ldap.NewDelRequest(dn, nil)); err != nil {
		t.Fatalf("delete %s: %v", dn, err)
	}
}

func (s *Server) admin(t testing.TB) *ldap.Conn {
	t.Helper()
	conn, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetTimeout(10 * time.Second)
	if err := conn.Bind(Admin, AdminPassword); err != nil {
		conn.Close()
		t.Fatal(err)
	}
	return conn
}
