package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/sony/gobreaker/v2"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// LDAPOptions configures sign-in against an LDAP directory (OpenLDAP, Active Directory,
// 389 Directory Server).
type LDAPOptions struct {
	// URL is the one server Berth dials: ldap://host[:port] or ldaps://host[:port].
	URL string
	// StartTLS upgrades an ldap:// connection before anything is sent.
	StartTLS bool
	// RootCAs verifies the server's certificate (nil: the system's roots).
	RootCAs *x509.CertPool
	// BindDN and BindPassword are the service account that searches the directory; empty
	// means anonymous searches.
	BindDN, BindPassword string
	// UserBase is where users are searched; UserFilter finds one by sign-in name, %s
	// standing for the name (escaped), e.g. (&(objectClass=person)(uid=%s)).
	UserBase, UserFilter string
	// GroupBase is where groups are searched (empty: no groups); GroupFilter finds a user's
	// groups, %s standing for the user's DN and %u for the sign-in name (both escaped).
	GroupBase, GroupFilter string
	// GroupAttribute names a group's attribute read as its name ("cn").
	GroupAttribute string
	// TeamMap maps group names to teams and roles, as OIDCOptions.TeamMap.
	TeamMap map[string]TeamRole
	// Timeout bounds one conversation with the directory, dial included (10s if 0).
	Timeout time.Duration
}

// maxGroups bounds the groups read for one user.
const maxGroups = 1000

// Kinds of rows the LDAP sign-in keeps in the tokens table (no secret in any).
const (
	// TokenLDAPLink ties a user to the directory entry that made it (by the entry's
	// unique id): a user whose entry is replaced is not taken over by the newcomer.
	TokenLDAPLink = "ldap"
	// TokenLDAPTeam is a team membership the directory's groups gave ("team role").
	TokenLDAPTeam = "ldap_team"
	// TokenLDAPOff marks a user the directory disabled, so the directory may enable it again;
	// one an administrator disabled stays disabled.
	TokenLDAPOff = "ldap_off"
)

// Why the directory refuses an account, whatever the password.
var (
	errNotInDirectory = errors.New("not found in the directory")
	errWrongPassword  = errors.New("wrong password")
	// errAmbiguous: the user filter matches several entries; nobody signs in with that name.
	errAmbiguous = errors.New("the user filter matches more than one entry")
)

// directoryEntry is what a sign-in or a check learns of a user's entry.
type directoryEntry struct {
	DN string
	// ID is the entry's unique id (entryUUID, objectGUID, nsUniqueId; else its DN).
	ID string
	// Disabled says why the directory disables the account ("" when it does not).
	Disabled string
	Groups   []string
}

// userAttributes are read from a user's entry: its unique id and whether it is disabled.
var userAttributes = []string{"entryUUID", "objectGUID", "nsUniqueId", "userAccountControl", "nsAccountLock"}

// directory talks to the one configured LDAP server.
type directory struct {
	o   LDAPOptions
	tls *tls.Config
	// breaker opens after breakerFailures conversations in a row found the directory down or
	// hung: sign-ins then answer 503 at once instead of each costing the timeout, and one
	// conversation at a time tries again every breakerOpen.
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
}

const (
	breakerFailures = 3
	breakerOpen     = 5 * time.Second
)

// errNotAnswering: the breaker is open; the directory was down or hung lately.
var errNotAnswering = errors.New("the directory did not answer lately; not asking again yet")

func newDirectory(o LDAPOptions) (*directory, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("LDAP URL %q: want ldap://host[:port] or ldaps://host[:port]", o.URL)
	}
	if o.StartTLS && u.Scheme == "ldaps" {
		return nil, errors.New("LDAP StartTLS goes with ldap://, not ldaps://")
	}
	if o.UserBase == "" || !strings.Contains(o.UserFilter, "%s") {
		return nil, errors.New("LDAP sign-in needs a user search base and a user filter with %s for the name")
	}
	if o.GroupBase != "" && !strings.Contains(o.GroupFilter, "%s") && !strings.Contains(o.GroupFilter, "%u") {
		return nil, errors.New("the LDAP group filter needs %s (the user's DN) or %u (the sign-in name)")
	}
	if o.GroupAttribute == "" {
		o.GroupAttribute = "cn"
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	d := &directory{o: o, tls: &tls.Config{ServerName: u.Hostname(), RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}}
	d.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name: "ldap", Timeout: breakerOpen,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= breakerFailures },
		// The directory's answers, a refusal included, show it is up.
		IsSuccessful: func(err error) bool { return err == nil || answered(err) },
		// A caller that gave up says nothing of the directory.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			slog.Warn("LDAP directory circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	return d, nil
}

// answered reports whether err is the directory's answer about an account (not a failure
// to reach it).
func answered(err error) bool {
	return errors.Is(err, errWrongPassword) || errors.Is(err, errNotInDirectory) || errors.Is(err, errAmbiguous)
}

// guard runs one conversation with the directory through the breaker.
func (d *directory) guard(talk func() error) error {
	done, err := d.breaker.Allow()
	if err != nil {
		return fmt.Errorf("%w (%w)", errNotAnswering, err)
	}
	err = talk()
	done(err)
	return err
}

// unavailableErr is the answer when the directory cannot say who someone is: 503, local
// accounts unaffected. err goes to the log only (it never holds a password).
func unavailableErr(err error) error {
	return httperr.Wrap(api.CodeDirectoryUnavailable, "The sign-in directory (LDAP) cannot be reached; try again later, or use a personal access token.", err)
}

// connect dials the configured URL (TLS or StartTLS as configured), bound as the service
// account. Each request is bounded by the timeout and the whole conversation by budget: the
// connection is closed then at the latest, which unblocks anything still waiting on it.
func (d *directory) connect(ctx context.Context, budget time.Duration) (*ldap.Conn, func(), error) {
	ctx, cancel := context.WithTimeout(ctx, budget)
	dialer := &net.Dialer{Timeout: d.o.Timeout}
	conn, err := ldap.DialURL(d.o.URL, ldap.DialWithDialer(dialer), ldap.DialWithTLSConfig(d.tls))
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("dial %s: %w", d.o.URL, err)
	}
	conn.SetTimeout(d.o.Timeout)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	done := func() {
		stop()
		cancel()
		_ = conn.Close()
	}
	if d.o.StartTLS {
		if err := conn.StartTLS(d.tls); err != nil {
			done()
			return nil, nil, fmt.Errorf("StartTLS with %s: %w", d.o.URL, err)
		}
	}
	if err := d.bindService(conn); err != nil {
		done()
		return nil, nil, err
	}
	return conn, done, nil
}

// bindService binds conn as the service account (nothing for anonymous searches).
func (d *directory) bindService(conn *ldap.Conn) error {
	if d.o.BindDN == "" {
		return nil
	}
	if err := conn.Bind(d.o.BindDN, d.o.BindPassword); err != nil {
		return fmt.Errorf("bind as the service account %s: %w", d.o.BindDN, err)
	}
	return nil
}

// verify checks login's password: the entry is searched as the service account, refused
// when absent, ambiguous or disabled (before any bind), then bound to as itself; its
// groups are read as the service account again. errNotInDirectory, an entry with Disabled
// set, and errWrongPassword are the directory's answers; any other error means it could not
// answer.
func (d *directory) verify(ctx context.Context, login, password string) (directoryEntry, error) {
	var e directoryEntry
	err := d.guard(func() error {
		var err error
		e, err = d.verifyOnce(ctx, login, password)
		return err
	})
	return e, err
}

func (d *directory) verifyOnce(ctx context.Context, login, password string) (directoryEntry, error) {
	conn, done, err := d.connect(ctx, d.o.Timeout)
	if err != nil {
		return directoryEntry{}, err
	}
	defer done()
	e, err := d.find(conn, login)
	if err != nil || e.Disabled != "" {
		return e, err
	}
	if err := conn.Bind(e.DN, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return e, errWrongPassword
		}
		return e, fmt.Errorf("bind as %s: %w", e.DN, err)
	}
	if err := d.bindService(conn); err != nil {
		return e, err
	}
	e.Groups, err = d.groups(conn, e.DN, login)
	return e, err
}

// find searches the user entry of login: errNotInDirectory when none matches, errAmbiguous
// when several do.
func (d *directory) find(conn *ldap.Conn, login string) (directoryEntry, error) {
	filter := strings.ReplaceAll(d.o.UserFilter, "%s", ldap.EscapeFilter(login))
	res, err := conn.Search(ldap.NewSearchRequest(d.o.UserBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, d.timeLimit(), false, filter, userAttributes, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) || (err == nil && len(res.Entries) > 1) {
		return directoryEntry{}, errAmbiguous
	}
	if err != nil {
		return directoryEntry{}, fmt.Errorf("search user: %w", err)
	}
	if len(res.Entries) == 0 {
		return directoryEntry{}, errNotInDirectory
	}
	return entryOf(res.Entries[0]), nil
}

// entryOf reads an entry's unique id and whether the directory disables it.
func entryOf(e *ldap.Entry) directoryEntry {
	out := directoryEntry{DN: e.DN, ID: strings.ToLower(e.DN)}
	if v := e.GetAttributeValue("entryUUID"); v != "" {
		out.ID = "entryUUID:" + v
	} else if b := e.GetRawAttributeValue("objectGUID"); len(b) > 0 {
		out.ID = "objectGUID:" + hex.EncodeToString(b)
	} else if v := e.GetAttributeValue("nsUniqueId"); v != "" {
		out.ID = "nsUniqueId:" + v
	}
	if uac, err := strconv.ParseInt(e.GetAttributeValue("userAccountControl"), 10, 64); err == nil && uac&2 != 0 {
		out.Disabled = "disabled in Active Directory (userAccountControl)"
	}
	if strings.EqualFold(e.GetAttributeValue("nsAccountLock"), "true") {
		out.Disabled = "locked in the directory (nsAccountLock)"
	}
	return out
}

// groups reads the names of the groups dn (signing in as login) belongs to.
func (d *directory) groups(conn *ldap.Conn, dn, login string) ([]string, error) {
	if d.o.GroupBase == "" {
		return nil, nil
	}
	filter := strings.NewReplacer("%s", ldap.EscapeFilter(dn), "%u", ldap.EscapeFilter(login)).Replace(d.o.GroupFilter)
	res, err := conn.Search(ldap.NewSearchRequest(d.o.GroupBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		maxGroups, d.timeLimit(), false, filter, []string{d.o.GroupAttribute}, nil))
	if res == nil || (err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded)) {
		return nil, fmt.Errorf("search groups: %w", err)
	}
	var out []string
	for _, e := range res.Entries {
		if name := e.GetAttributeValue(d.o.GroupAttribute); name != "" {
			out = append(out, name)
		}
	}
	return out, nil
}

// lookup reads name's entry and groups as the service account, for the periodic check.
func (d *directory) lookup(conn *ldap.Conn, name string) (directoryEntry, error) {
	e, err := d.find(conn, name)
	if err != nil || e.Disabled != "" {
		return e, err
	}
	e.Groups, err = d.groups(conn, e.DN, name)
	return e, err
}

func (d *directory) timeLimit() int { return max(1, int(d.o.Timeout.Seconds())) }
