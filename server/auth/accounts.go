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
	"github.com/berth-registry/berth/server/access"
	"log/slog"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/session"
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
	// limiter is the one throttle of credential checks; slots bounds the password hashes
	// running at once (each argon2id takes 19 MiB).
	limiter *session.Limiter
	slots   chan struct{}

	mu       sync.Mutex
	verified map[string]time.Time // hash of name+password → when the check stops counting
	// rejected remembers a session's stored password that no longer signs in (changed
	// since), so an outdated cookie costs one hash, not one per request.
	rejected map[string]time.Time
	touched  map[string]time.Time // token or robot → when its last use was written
	dummy    string

	// accessKey signs static sites' access tokens (oauth.go); set by New from the cluster
	// secret. Without it access tokens are refused.
	accessKey []byte
	// patTTL is the lifetime of a personal access token created without one, and the
	// longest allowed (0: no limit).
	patTTL time.Duration
	// ldap checks the passwords of names without a local one, when LDAP sign-in is on.
	ldap *LDAP
	// occupied reports whether repositories exist under a namespace name (takeover check).
	occupied func(ctx context.Context, namespace string) (bool, error)
}

// errNotConnected: access control is not yet connected to its registry (Control.Connect).
var errNotConnected = errors.New("access control is not connected to the registry yet")

// verifiedFor is how long a checked password is trusted without hashing it again; any
// account change forgets every such check.
const verifiedFor = time.Minute

// hashWait is how long a credential check waits for a hashing slot before answering 429.
const hashWait = 2 * time.Second

// NewAccounts returns the service over st, invalidating policy on changes and throttling
// every credential check with limiter (nil: a limiter of its own). Refresh tokens (docker
// login's) live refreshTTL.
func NewAccounts(st store.Accounts, policy *Policy, refreshTTL time.Duration, limiter *session.Limiter) *Accounts {
	if limiter == nil {
		limiter = session.NewCredentialLimiter(nil)
	}
	dummy, _ := argon2id.CreateHash("berth: no such user", passwordParams)
	return &Accounts{st: st, policy: policy, now: time.Now, refreshTTL: refreshTTL, limiter: limiter,
		slots:    make(chan struct{}, max(2, min(4, runtime.GOMAXPROCS(0)))),
		verified: map[string]time.Time{}, rejected: map[string]time.Time{}, touched: map[string]time.Time{}, dummy: dummy,
		occupied: func(context.Context, string) (bool, error) { return false, errNotConnected }}
}

// Policy is the policy the service keeps current.
func (a *Accounts) Policy() *Policy { return a.policy }

// Store is the store the service keeps accounts in.
func (a *Accounts) Store() store.Accounts { return a.st }

// changed drops every cached decision and password check.
func (a *Accounts) changed() {
	a.mu.Lock()
	clear(a.verified)
	clear(a.rejected)
	a.mu.Unlock()
	a.policy.Invalidate()
}

// Authenticate checks a username and a secret — a password, a personal access token, a
// session's or a static site's token, or a robot's secret — under the one throttle: refused
// with 429 while the (user, client) or client counts are over their limit, every rejection
// counted. It returns ErrBadCredentials for anything that does not sign in.
func (a *Accounts) Authenticate(ctx context.Context, name, secret string) (access.Identity, error) {
	return a.authenticate(ctx, name, secret, true)
}

// Identify implements access.Authenticator: the credentials a request presented become its
// identity, carrying them on for the registry. A session's stored credentials were checked
// under the throttle at sign-in and cannot be chosen by the client, so their re-checks are
// not counted; Basic credentials and bearer tokens are.
func (a *Accounts) Identify(ctx context.Context, c access.Credentials) (access.Identity, error) {
	id, err := a.authenticate(ctx, c.User, c.Secret, !c.Stored)
	if err != nil {
		return access.Identity{}, err
	}
	id.Key, id.Auth = c.Key, authn.FromConfig(authn.AuthConfig{Username: c.User, Password: c.Secret})
	return id, nil
}

func (a *Accounts) authenticate(ctx context.Context, name, secret string, throttle bool) (access.Identity, error) {
	if name == "" || secret == "" {
		return access.Identity{}, ErrBadCredentials
	}
	var id access.Identity
	var err error
	switch {
	case strings.HasPrefix(secret, PATPrefix), strings.HasPrefix(secret, SessionPrefix),
		strings.HasPrefix(secret, AccessPrefix), strings.HasPrefix(name, RobotAccount):
		if throttle {
			if err := a.limiter.Check(ctx, throttleKey(name)); err != nil {
				return access.Identity{}, err
			}
		}
		id, err = a.token(ctx, name, secret)
	default:
		id, err = a.password(ctx, name, secret, throttle)
	}
	if throttle && errors.Is(err, ErrBadCredentials) {
		a.limiter.Fail(ctx, throttleKey(name))
	}
	return id, err
}

// token checks the secrets Berth hands out (only a hash of each is kept).
func (a *Accounts) token(ctx context.Context, name, secret string) (access.Identity, error) {
	switch {
	case strings.HasPrefix(secret, PATPrefix):
		id, err := a.storedToken(ctx, name, secret, store.TokenPersonal)
		id.Via = access.ViaToken
		return id, err
	case strings.HasPrefix(secret, SessionPrefix):
		id, err := a.storedToken(ctx, name, secret, TokenSession)
		id.Via = access.ViaSession
		return id, err
	case strings.HasPrefix(secret, AccessPrefix):
		return a.accessToken(ctx, name, secret)
	}
	return a.robot(ctx, name, secret)
}

// password checks a password with argon2id: at most len(slots) at once, after the throttle
// (checked again once a slot is held, so failures that ended meanwhile count). A password
// checked within verifiedFor is not hashed again.
func (a *Accounts) password(ctx context.Context, name, password string, throttle bool) (access.Identity, error) {
	// The throttle comes before the cache of verified passwords too: otherwise a throttled
	// guesser would still learn, unthrottled, whether a guess is one lately verified.
	if throttle {
		if err := a.limiter.Check(ctx, throttleKey(name)); err != nil {
			return access.Identity{}, err
		}
	}
	u, ok, err := a.st.User(ctx, name)
	if err != nil {
		return access.Identity{}, err
	}
	if a.ldap != nil && (!ok || u.PasswordHash == "") {
		return a.ldap.password(ctx, name, password, throttle)
	}
	key := secretHash(u.Name + "\x00" + u.PasswordHash + "\x00" + password)
	if ok && u.PasswordHash != "" && a.recalled(a.verified, key) {
		return a.passwordIdentity(u)
	}
	if !throttle && a.recalled(a.rejected, key) {
		return access.Identity{}, ErrBadCredentials
	}
	release, err := a.hashSlot(ctx, name, throttle)
	if err != nil {
		return access.Identity{}, err
	}
	defer release()
	if !ok || u.PasswordHash == "" {
		// Hash anyway: an unknown name must take as long as a wrong password.
		_, _ = argon2id.ComparePasswordAndHash(password, a.dummy)
		if !throttle {
			a.remember(a.rejected, key)
		}
		return access.Identity{}, ErrBadCredentials
	}
	if match, err := argon2id.ComparePasswordAndHash(password, u.PasswordHash); err != nil || !match {
		if !throttle {
			a.remember(a.rejected, key)
		}
		return access.Identity{}, ErrBadCredentials
	}
	a.remember(a.verified, key)
	return a.passwordIdentity(u)
}

func (a *Accounts) passwordIdentity(u store.User) (access.Identity, error) {
	if u.Disabled {
		return access.Identity{}, ErrBadCredentials
	}
	return access.Identity{Kind: access.User, Name: u.Name, Admin: u.Admin, Via: access.ViaPassword}, nil
}

// recalled reports whether m (verified or rejected) holds key from lately.
func (a *Accounts) recalled(m map[string]time.Time, key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	until, ok := m[key]
	return ok && a.now().Before(until)
}

// remember puts key into m (verified or rejected) for verifiedFor.
func (a *Accounts) remember(m map[string]time.Time, key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(m) > 10_000 {
		clear(m)
	}
	m[key] = a.now().Add(verifiedFor)
}

// hashSlot takes one of the hashing slots, waiting at most hashWait (then 429), and checks
// the throttle again once it holds the slot: failures that ended while it waited count.
func (a *Accounts) hashSlot(ctx context.Context, name string, throttle bool) (func(), error) {
	return a.takeSlot(ctx, a.slots, name, throttle)
}

// takeSlot is hashSlot over slots (the hashing slots, or another bounded pool).
func (a *Accounts) takeSlot(ctx context.Context, slots chan struct{}, name string, throttle bool) (func(), error) {
	t := time.NewTimer(hashWait)
	defer t.Stop()
	select {
	case slots <- struct{}{}:
	case <-t.C:
		e := httperr.New(api.CodeTooManyRequests, "Too many sign-ins at once; try again in a moment.")
		e.RetryAfter = time.Second
		return nil, e
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	release := func() { <-slots }
	if throttle {
		if err := a.limiter.Check(ctx, throttleKey(name)); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

// storedToken checks a secret kept as a hash of kind (a personal access token, a session's
// token) that stands for the user name.
func (a *Accounts) storedToken(ctx context.Context, name, secret, kind string) (access.Identity, error) {
	t, ok, err := a.st.TokenByHash(ctx, secretHash(secret))
	if err != nil {
		return access.Identity{}, err
	}
	if !ok || t.Kind != kind || !a.live(t.Revoked, t.Expires) || subtle.ConstantTimeCompare([]byte(t.User), []byte(name)) != 1 {
		return access.Identity{}, ErrBadCredentials
	}
	sub, err := a.userSubject(ctx, t.User)
	if err != nil {
		return access.Identity{}, err
	}
	sub.ReadOnly = t.ReadOnly
	a.touch(ctx, "token "+t.ID, func(at time.Time, addr string) error { return a.st.TouchToken(ctx, t.ID, at, addr) })
	return sub, nil
}

func (a *Accounts) robot(ctx context.Context, name, secret string) (access.Identity, error) {
	r, ok, err := a.st.RobotBySecret(ctx, secretHash(secret))
	if err != nil {
		return access.Identity{}, err
	}
	if !ok || !a.live(r.Revoked, r.Expires) || subtle.ConstantTimeCompare([]byte(r.Name), []byte(name)) != 1 {
		return access.Identity{}, ErrBadCredentials
	}
	a.touch(ctx, "robot "+r.Name, func(at time.Time, addr string) error { return a.st.TouchRobot(ctx, r.Name, at, addr) })
	return access.Identity{Kind: access.Robot, Name: r.Name, Namespace: r.Namespace, Role: r.Role, Via: access.ViaRobot}, nil
}

// Refresh checks a refresh token (docker login's identity token) and returns its user.
func (a *Accounts) Refresh(ctx context.Context, refresh string) (access.Identity, error) {
	if !strings.HasPrefix(refresh, RefreshPrefix) {
		return access.Identity{}, ErrBadCredentials
	}
	t, ok, err := a.st.TokenByHash(ctx, secretHash(refresh))
	if err != nil {
		return access.Identity{}, err
	}
	if !ok || t.Kind != store.TokenRefresh || !a.live(t.Revoked, t.Expires) {
		return access.Identity{}, ErrBadCredentials
	}
	a.touch(ctx, "token "+t.ID, func(at time.Time, addr string) error { return a.st.TouchToken(ctx, t.ID, at, addr) })
	return a.userSubject(ctx, t.User)
}

// userSubject returns the user's subject if the account exists and is enabled.
func (a *Accounts) userSubject(ctx context.Context, name string) (access.Identity, error) {
	u, ok, err := a.st.User(ctx, name)
	if err != nil {
		return access.Identity{}, err
	}
	if !ok || u.Disabled {
		return access.Identity{}, ErrBadCredentials
	}
	return access.Identity{Kind: access.User, Name: u.Name, Admin: u.Admin}, nil
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
		if err := write(now, access.ClientString(ctx)); err != nil {
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
		e.Addr = access.ClientString(ctx)
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
	if _, ok := errors.AsType[*httperr.Error](err); ok {
		return err // already an answer (throttled, busy, refused)
	}
	return httperr.Wrap(api.CodeStoreUnavailable, "The account store failed; try again.", err)
}

func badName(what, name string) error {
	return httperr.New(api.CodeBadRequest, fmt.Sprintf("%s %q: use lowercase letters, digits and . _ - between them (at most 64 characters).", what, name))
}

// throttleKey is the name failures are counted under: case folded, since the directory
// matches names whatever their case ("Alice" and "alice" are one LDAP user, one budget).
func throttleKey(name string) string { return strings.ToLower(name) }
