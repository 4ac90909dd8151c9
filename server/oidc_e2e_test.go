package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth/authtest"
	"github.com/berth-registry/berth/server/config"
)

// TestE2EOIDCSignIn signs in through a real OpenID Connect provider in Chromium: the sign-in
// page offers the provider (and passes axe in every look), its button leads to the
// provider's own login form, which the test fills as a person would, and the browser comes
// back to Berth signed in as the provider's user — who sees the repositories of the team
// their provider group maps to and not the others — and signs out again.
func TestE2EOIDCSignIn(t *testing.T) {
	script := axeScript(t)
	ctx := browser(t)
	// Berth's address must be known before it starts: the provider registers its callback.
	// Berth is opened as localhost, the provider at 127.0.0.1, so their cookies stay apart.
	port := freePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	p := authtest.NewProvider(t, base+"/auth/oidc/callback")
	const password = "dana's password at the provider"
	p.SetUser("dana", authtest.User{Subject: "sub-dana", Password: password, PreferredUsername: "dana",
		Email: "dana@example.com", Groups: []string{"team", "not-a-team"}})
	secret := filepath.Join(t.TempDir(), "oidc-secret")
	if err := os.WriteFile(secret, []byte(p.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	startGuarded(t, func(c *config.Config) {
		c.Addr, c.PublicURL = fmt.Sprintf("127.0.0.1:%d", port), base
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecretFile = p.Issuer, p.ClientID, secret
	})
	// The group "team" maps to the team of that name, which owns the namespace team/ of the
	// demo content (team/api/server); staging/ belongs to no team of dana's.
	if code := apiAs(t, base, http.MethodPost, "/api/v1/teams", "admin", adminPassword, api.Team{Name: "team"}, nil); code != http.StatusCreated {
		t.Fatalf("create team: %d", code)
	}
	const granted, other = `#repositories a[href="/repositories/team/api/server"]`, `#repositories a[href="/repositories/staging/payments/ledger"]`

	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil { // the tab lives on ctx, not on a step's
		t.Fatal(err)
	}
	// The header's link leads to the sign-in page, which offers the provider.
	if err := within(ctx,
		chromedp.Navigate(base+"/"),
		waitShown(`#signin-link`),
		clickOn(`#signin-link`),
		waitJS(`location.pathname === "/signin"`),
		waitShown(`#signin-oidc`),
	); err != nil {
		screenshot(t, ctx, "oidc-signin-page-failed")
		t.Fatalf("sign-in page: %v", err)
	}
	for _, l := range looks {
		name := "oidc-signin-" + l.name
		if err := within(ctx, look(l.width, l.height, l.dark), waitShown(`#signin-oidc`)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkAxe(t, ctx, script, name)
		if l.width < 640 {
			noOverflow(t, ctx, name)
		}
		screenshot(t, ctx, name)
	}
	if err := within(ctx, look(looks[0].width, looks[0].height, looks[0].dark)); err != nil {
		t.Fatal(err)
	}
	label, _ := chromedp.Run(ctx, textOf(`#signin-oidc`))
	if label != "Sign in with OIDC" {
		t.Errorf("the OIDC button says %q", label)
	}

	// The button goes to the provider's login page; its form sends the browser back.
	if err := within(ctx,
		clickOn(`#signin-oidc`),
		waitAcrossPages(`location.href.startsWith(`+jsString(p.Issuer+"/login?")+`) && document.querySelector("input[name=password]")`),
	); err != nil {
		screenshot(t, ctx, "oidc-provider-failed")
		t.Fatalf("to the provider: %v", err)
	}
	screenshot(t, ctx, "oidc-provider-login")
	if err := within(ctx,
		typeInto(`input[name=username]`, "dana"),
		typeInto(`input[name=password]`, password),
		clickOn(`form button`),
		waitAcrossPages(`location.origin === `+jsString(base)+` && location.pathname === "/" && document.querySelector("#signed-in-user") && document.querySelector("#signed-in-user").innerText === "dana"`),
		waitShown(granted),
	); err != nil {
		screenshot(t, ctx, "oidc-back-failed")
		t.Fatalf("back at Berth signed in: %v", err)
	}
	screenshot(t, ctx, "oidc-signed-in")
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(other)+`).length`)); n != 0 {
		t.Errorf("dana sees staging/payments/ledger, which no team of hers grants")
	}
	var team api.Team
	if apiAs(t, base, http.MethodGet, "/api/v1/teams/team", "admin", adminPassword, nil, &team); !hasMember(team, "dana", "developer") {
		t.Errorf("team after dana's sign-in: %+v, want dana as developer", team.Members)
	}

	// Sign-out ends the session: the header offers sign-in again and the API knows nobody.
	if err := within(ctx,
		clickOn(`#signout`),
		waitShown(`#signin-link`),
		waitGone(granted),
	); err != nil {
		screenshot(t, ctx, "oidc-signout-failed")
		t.Fatalf("sign out: %v", err)
	}
	user, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/api/v1/session", {credentials: "same-origin"}).then(r => r.json()).then(s => s.user || "")`, chromedp.EvalAwaitPromise))
	if err != nil || user != "" {
		t.Errorf("after sign-out the session is %q (%v)", user, err)
	}
}

func hasMember(team api.Team, user, role string) bool {
	for _, m := range team.Members {
		if m.User == user && m.Role == role {
			return true
		}
	}
	return false
}
