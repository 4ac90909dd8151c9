package auth

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Grants reports whether authorization (a request's Authorization header) is a bearer token
// this issuer signed, for its registry, still valid, granting action on repository. Policies
// Berth enforces in front of the registry (immutable tags, quotas) ask it before they look
// at anything, so that their answers tell nothing to a request the registry would refuse.
func (i *Issuer) Grants(ctx context.Context, authorization, repository, action string) bool {
	raw, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || raw == "" {
		return false
	}
	var c claims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) { return i.publicKey(ctx, t) },
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithIssuer(i.issuer),
		jwt.WithAudience(i.service), jwt.WithExpirationRequired(), jwt.WithLeeway(keyLeeway), jwt.WithTimeFunc(i.now))
	if err != nil {
		return false
	}
	for _, a := range c.Access {
		if a.Type == "repository" && a.Name == repository && (slices.Contains(a.Actions, action) || slices.Contains(a.Actions, "*")) {
			return true
		}
	}
	return false
}

// publicKey is the key of the token's kid among the keys tokens are accepted with.
func (i *Issuer) publicKey(ctx context.Context, t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	keys, err := i.keys.current(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.id == kid && kid != "" {
			return k.private.Public(), nil
		}
	}
	return nil, errors.New("unknown signing key")
}
