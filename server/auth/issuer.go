package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer signs registry access tokens: JWTs (ES256) whose header names the key (kid) and
// carries its certificate (x5c), which is what distribution checks against its
// rootcertbundle (v2.8 and v3 both try x5c first, then kid against the bundle or JWKS).
type Issuer struct {
	keys    *Keyring
	issuer  string
	service string
	ttl     time.Duration
	now     func() time.Time
}

// NewIssuer returns an Issuer signing with keys for the registry named service.
func NewIssuer(keys *Keyring, issuer, service string, ttl time.Duration) *Issuer {
	return &Issuer{keys: keys, issuer: issuer, service: service, ttl: ttl, now: time.Now}
}

// Service is the registry's service name (the tokens' audience).
func (i *Issuer) Service() string { return i.service }

// Name is the issuer name (the tokens' iss).
func (i *Issuer) Name() string { return i.issuer }

// TTL is an access token's lifetime.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Keys is the keyring tokens are signed with.
func (i *Issuer) Keys() *Keyring { return i.keys }

// Token is a signed access token.
type Token struct {
	Raw       string
	IssuedAt  time.Time
	ExpiresIn time.Duration
}

// claims is the token's claim set; aud is a plain string, which registries before v2.8's
// audience lists read as well.
type claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	Expires   int64    `json:"exp"`
	NotBefore int64    `json:"nbf"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
	Access    []Access `json:"access"`
}

// GetExpirationTime and the rest make claims a jwt.Claims; golang-jwt only signs here.
func (c claims) GetExpirationTime() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.Expires, 0)), nil
}
func (c claims) GetIssuedAt() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.IssuedAt, 0)), nil
}
func (c claims) GetNotBefore() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.NotBefore, 0)), nil
}
func (c claims) GetIssuer() (string, error)             { return c.Issuer, nil }
func (c claims) GetSubject() (string, error)            { return c.Subject, nil }
func (c claims) GetAudience() (jwt.ClaimStrings, error) { return jwt.ClaimStrings{c.Audience}, nil }

// Issue signs a token for subject granting access (which may be empty: such a token still
// opens /v2/).
func (i *Issuer) Issue(ctx context.Context, subject string, access []Access) (Token, error) {
	key, err := i.keys.signer(ctx)
	if err != nil {
		return Token{}, err
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return Token{}, err
	}
	if access == nil {
		access = []Access{}
	}
	now := i.now()
	c := claims{
		Issuer: i.issuer, Subject: subject, Audience: i.service,
		IssuedAt: now.Unix(), NotBefore: now.Add(-10 * time.Second).Unix(), Expires: now.Add(i.ttl).Unix(),
		ID: hex.EncodeToString(jti[:]), Access: access,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = key.id
	t.Header["x5c"] = []string{base64.StdEncoding.EncodeToString(key.cert.Raw)}
	raw, err := t.SignedString(key.private)
	if err != nil {
		return Token{}, fmt.Errorf("sign token: %w", err)
	}
	return Token{Raw: raw, IssuedAt: now, ExpiresIn: i.ttl}, nil
}
