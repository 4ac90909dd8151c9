package auth

import (
	"context"
	"errors"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/store"
)

// CheckSignIn is session.Checker for access control: the credentials are checked against the
// local accounts (a password or a personal access token; robots do not sign in to the UI)
// under the one throttle, and every attempt goes to the audit log.
func (a *Accounts) CheckSignIn(ctx context.Context, auth authn.Authenticator) error {
	cfg, err := auth.Authorization()
	if err != nil {
		return err
	}
	sub, err := a.Authenticate(ctx, cfg.Username, cfg.Password)
	if err == nil && sub.Kind != access.User {
		err = ErrBadCredentials
	}
	if err != nil && !errors.Is(err, ErrBadCredentials) {
		return storeErr(err, "The account")
	}
	a.Audit(ctx, store.AuditEntry{Actor: cfg.Username, Action: AuditSignIn, OK: err == nil, Detail: map[bool]string{true: "signed in", false: "refused"}[err == nil]})
	return err
}
