package auth_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/berth-registry/berth/server/auth"
)

// TestRotation: a registry that read the bundle before a rotation accepts tokens signed
// before it (until they expire) and after it (the next key was published in advance); the
// bundle and the JWKS carry the retired key until its tokens expire.
func TestRotation(t *testing.T) {
	f := newFixture(t)
	host := f.embeddedRegistry(t) // reads the bundle now, once
	ctx := t.Context()
	if err := push(ctx, t, host, "web/app:1", basic("root", pw)); err != nil {
		t.Fatal(err)
	}
	scope := []auth.Access{{Type: "repository", Name: "web/app", Actions: []string{"pull"}}}
	before, err := f.c.Issuer.Issue(ctx, "vic", scope)
	if err != nil {
		t.Fatal(err)
	}
	active, err := f.c.Keys.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after, err := f.c.Issuer.Issue(ctx, "vic", scope)
	if err != nil {
		t.Fatal(err)
	}
	kid := func(raw string) string {
		tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Header["kid"].(string)
	}
	if kid(before.Raw) == kid(after.Raw) || kid(after.Raw) != active {
		t.Fatalf("kids: before %s, after %s, active %s", kid(before.Raw), kid(after.Raw), active)
	}
	for what, tok := range map[string]string{"signed before the rotation": before.Raw, "signed after": after.Raw} {
		if code := rawGet(t, host, tok); code != http.StatusOK {
			t.Errorf("token %s: registry answered %d", what, code)
		}
	}
	bundle, err := f.c.Keys.Bundle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(bundle), "BEGIN CERTIFICATE"); n != 3 {
		t.Errorf("bundle holds %d certificates, want retired, active and next", n)
	}
	resp, err := http.Get(f.tokens.URL + "/auth/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []auth.JWK `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		kids[k.Kid] = k.Kty == "EC" && k.Crv == "P-256" && len(k.X5c) == 1 && k.X != "" && k.Y != ""
	}
	if len(kids) != 3 || !kids[kid(before.Raw)] || !kids[active] {
		t.Errorf("JWKS %+v lacks the old or the active key", set.Keys)
	}
}
