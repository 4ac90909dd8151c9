package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// Prefixes of the secrets Berth hands out, so a leaked one is recognisable (and secret
// scanners can match them) and a password is never looked up as a token.
const (
	PATPrefix     = "berth_pat_"
	RobotPrefix   = "berth_robot_"
	RefreshPrefix = "berth_rt_"
	// SessionPrefix starts the credential of a session an OpenID Connect sign-in made.
	SessionPrefix = "berth_ses_"
	// AccessPrefix starts a static site's access token; OAuthRefreshPrefix its refresh
	// token; CodePrefix an authorization code.
	AccessPrefix       = "berth_at_"
	OAuthRefreshPrefix = "berth_ort_"
	CodePrefix         = "berth_code_"
	// RobotAccount starts every robot's account name: robot$namespace+name.
	RobotAccount = "robot$"
)

// passwordParams are argon2id's cost: OWASP's recommendation (19 MiB, 2 passes, 1 lane).
var passwordParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// ErrBadCredentials is the answer to any credentials that do not sign in, whatever the reason
// (unknown user, wrong password, disabled, revoked, expired), so none can be probed.
var ErrBadCredentials = httperr.New(api.CodeInvalidCredentials, "Wrong username or password (or the token is revoked or expired).")

// nameRE is what user, team and namespace names look like: a repository path component.
var nameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// ValidName reports whether name can be a user, team, namespace or robot name.
func ValidName(name string) bool { return len(name) <= 64 && nameRE.MatchString(name) }

// Accounts is the access-control service: it checks credentials, keeps accounts, teams,
// namespaces, robots and tokens in the store, records every change in the audit log and
// invalidates the policy's cache when something changes.
type Accounts struct {
	st         store.Accounts
	policy     *Policy
	now        func() time.Time
	refreshTTL time.Duration

	mu       sync.Mutex
	verified map[string]time.Time // hash of name+password → when the check stops counting
	touched  map[string]time.Time // token or robot → when its last use was written
	dummy    string

	// accessKey signs static sites' access tokens (oauth.go); set by New from the cluster
	// secret. Without it access tokens are refused.
	accessKey []byte
}

// verifiedFor is how long a checked password is trusted without hashing it again; any
// account change forgets every such check.
const verifiedFor = time.Minute

// NewAccounts returns the service over st, invalidating policy on changes. Refresh tokens
// (docker login's) live refreshTTL.
func NewAccounts(st store.Accounts, policy *Policy, refreshTTL time.Duration) *Accounts {
	dummy, _ := argon2id.CreateHash("berth: no such user", passwordParams)
	return &Accounts{st: st, policy: policy, now: time.Now, refreshTTL: refreshTTL,
		verified: map[string]time.Time{}, touched: map[string]time.Time{}, dummy: dummy}
}

// Policy is the policy the service keeps current.
func (a *Accounts) Policy() *Policy { return a.policy }

// Store is the store the service keeps accounts in.
func (a *Accounts) Store() store.Accounts { return a.st }

// changed drops every cached decision and password check.
func (a *Accounts) changed() {
	a.mu.Lock()
	clear(a.verified)
	a.mu.Unlock()
	a.policy.Invalidate()
}

// Authenticate checks a username and a secret: a password, a personal access token or a
// robot's secret. It returns ErrBadCredentials for anything that does not sign in.
func (a *Accounts) Authenticate(ctx context.Context, name, secret string) (Subject, error) {
	switch {
	case name == "" || secret == "":
		return Subject{}, ErrBadCredentials
	case strings.HasPrefix(secret, PATPrefix):
		return a.storedToken(ctx, name, secret, store.TokenPersonal)
	case strings.HasPrefix(secret, SessionPrefix):
		return a.storedToken(ctx, name, secret, TokenSession)
	case strings.HasPrefix(secret, AccessPrefix):
		return a.accessToken(ctx, name, secret)
	case strings.HasPrefix(name, RobotAccount):
		return a.robot(ctx, name, secret)
	}
	return a.password(ctx, name, secret)
}

func (a *Accounts) password(ctx context.Context, name, password string) (Subject, error) {
	u, ok, err := a.st.User(ctx, name)
	if err != nil {
		return Subject{}, err
	}
	if !ok || u.PasswordHash == "" {
		// Hash anyway: an unknown name must take as long as a wrong password.
		_, _ = argon2id.ComparePasswordAndHash(password, a.dummy)
		return Subject{}, ErrBadCredentials
	}
	key := secretHash(u.Name + "\x00" + u.PasswordHash + "\x00" + password)
	a.mu.Lock()
	until, known := a.verified[key]
	a.mu.Unlock()
	if !known || a.now().After(until) {
		match, err := argon2id.ComparePasswordAndHash(password, u.PasswordHash)
		if err != nil || !match {
			return Subject{}, ErrBadCredentials
		}
		a.mu.Lock()
		if len(a.verified) > 10_000 {
			clear(a.verified)
		}
		a.verified[key] = a.now().Add(verifiedFor)
		a.mu.Unlock()
	}
	if u.Disabled {
		return Subject{}, ErrBadCredentials
	}
	return Subject{Kind: UserKind, Name: u.Name, Admin: u.Admin}, nil
}

// storedToken checks a secret kept as a hash of kind (a personal access token, a session's
// token) that stands for the user name.
func (a *Accounts) storedToken(ctx context.Context, name, secret, kind string) (Subject, error) {
	t, ok, err := a.st.TokenByHash(ctx, secretHash(secret))
	if err != nil {
		return Subject{}, err
	}
	if !ok || t.Kind != kind || !a.live(t.Revoked, t.Expires) || subtle.ConstantTimeCompare([]byte(t.User), []byte(name)) != 1 {
		return Subject{}, ErrBadCredentials
	}
	sub, err := a.userSubject(ctx, t.User)
	if err != nil {
		return Subject{}, err
	}
	sub.ReadOnly = t.ReadOnly
	a.touch(ctx, "token "+t.ID, func(at time.Time, addr string) error { return a.st.TouchToken(ctx, t.ID, at, addr) })
	return sub, nil
}

func (a *Accounts) robot(ctx context.Context, name, secret string) (Subject, error) {
	r, ok, err := a.st.RobotBySecret(ctx, secretHash(secret))
	if err != nil {
		return Subject{}, err
	}
	if !ok || !a.live(r.Revoked, r.Expires) || subtle.ConstantTimeCompare([]byte(r.Name), []byte(name)) != 1 {
		return Subject{}, ErrBadCredentials
	}
	a.touch(ctx, "robot "+r.Name, func(at time.Time, addr string) error { return a.st.TouchRobot(ctx, r.Name, at, addr) })
	return Subject{Kind: RobotKind, Name: r.Name, Namespace: r.Namespace, Role: r.Role}, nil
}

// Refresh checks a refresh token (docker login's identity token) and returns its user.
func (a *Accounts) Refresh(ctx context.Context, refresh string) (Subject, error) {
	if !strings.HasPrefix(refresh, RefreshPrefix) {
		return Subject{}, ErrBadCredentials
	}
	t, ok, err := a.st.TokenByHash(ctx, secretHash(refresh))
	if err != nil {
		return Subject{}, err
	}
	if !ok || t.Kind != store.TokenRefresh || !a.live(t.Revoked, t.Expires) {
		return Subject{}, ErrBadCredentials
	}
	a.touch(ctx, "token "+t.ID, func(at time.Time, addr string) error { return a.st.TouchToken(ctx, t.ID, at, addr) })
	return a.userSubject(ctx, t.User)
}

// userSubject returns the user's subject if the account exists and is enabled.
func (a *Accounts) userSubject(ctx context.Context, name string) (Subject, error) {
	u, ok, err := a.st.User(ctx, name)
	if err != nil {
		return Subject{}, err
	}
	if !ok || u.Disabled {
		return Subject{}, ErrBadCredentials
	}
	return Subject{Kind: UserKind, Name: u.Name, Admin: u.Admin}, nil
}

// live reports whether a token revoked and expiring at those times (zero: never) counts now.
func (a *Accounts) live(revoked, expires time.Time) bool {
	return revoked.IsZero() && (expires.IsZero() || a.now().Before(expires))
}

// touch records a token's or robot's use, at most once a minute each.
func (a *Accounts) touch(ctx context.Context, key string, write func(at time.Time, addr string) error) {
	now := a.now()
	a.mu.Lock()
	due := now.Sub(a.touched[key]) >= time.Minute
	if due {
		if len(a.touched) > 10_000 {
			clear(a.touched)
		}
		a.touched[key] = now
	}
	a.mu.Unlock()
	if due {
		if err := write(now, ClientFrom(ctx)); err != nil {
			slog.WarnContext(ctx, "recording a token's last use failed", "what", key, "err", err)
		}
	}
}

// NewRefreshToken creates a refresh token for user and returns it; only its hash is kept.
func (a *Accounts) NewRefreshToken(ctx context.Context, user string) (string, error) {
	secret, t, err := a.newToken(store.TokenRefresh, user, "docker login", a.refreshTTL, false, RefreshPrefix)
	if err != nil {
		return "", err
	}
	return secret, a.st.CreateToken(ctx, t)
}

func (a *Accounts) newToken(kind, user, name string, ttl time.Duration, readOnly bool, prefix string) (string, store.Token, error) {
	secret, err := newSecret(prefix)
	if err != nil {
		return "", store.Token{}, err
	}
	id, err := newID()
	if err != nil {
		return "", store.Token{}, err
	}
	t := store.Token{ID: id, Kind: kind, User: user, Name: name, Hash: secretHash(secret), ReadOnly: readOnly, Created: a.now()}
	if ttl > 0 {
		t.Expires = t.Created.Add(ttl)
	}
	return secret, t, nil
}

// newSecret returns prefix + 32 random bytes (base64url): unguessable, so a fast hash is
// enough to store it.
func newSecret(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func newID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// secretHash is how tokens and robot secrets are stored (and looked up): SHA-256.
func secretHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Audit records e, stamping the client address from ctx when e has none. A failure to
// record is logged; it never fails the request it describes.
func (a *Accounts) Audit(ctx context.Context, e store.AuditEntry) {
	if e.Addr == "" {
		e.Addr = ClientFrom(ctx)
	}
	if e.Time.IsZero() {
		e.Time = a.now()
	}
	if err := a.st.AddAudit(ctx, e); err != nil {
		slog.WarnContext(ctx, "audit entry not recorded", "action", e.Action, "actor", e.Actor, "err", err)
	}
}

// storeErr turns the store's sentinel errors into API errors.
func storeErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrExists):
		return httperr.Wrap(api.CodeConflict, what+" exists already.", err)
	case errors.Is(err, store.ErrNotFound):
		return httperr.Wrap(api.CodeNotFound, what+" does not exist.", err)
	}
	return httperr.Wrap(api.CodeStoreUnavailable, "The account store failed; try again.", err)
}

func badName(what, name string) error {
	return httperr.New(api.CodeBadRequest, fmt.Sprintf("%s %q: use lowercase letters, digits and . _ - between them (at most 64 characters).", what, name))
}
