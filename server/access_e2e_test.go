package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/chromedp/chromedp"
)

const adminPassword = "first admin password"

// startGuarded runs Berth with access control: the embedded registry takes only Berth's
// tokens, and the administrator "admin" comes from a password file.
func startGuarded(t *testing.T, mutate func(*config.Config)) string {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "admin")
	if err := os.WriteFile(pwFile, []byte(adminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startBerth(t, func(c *config.Config) {
		c.AccessControl, c.AdminPasswordFile, c.SyncInterval = true, pwFile, 0
		if mutate != nil {
			mutate(c)
		}
	})
}

// apiAs calls Berth's API with Basic credentials and decodes the answer into out.
func apiAs(t *testing.T, base, method, path, user, password string, body, out any) int {
	t.Helper()
	var rd bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = *bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, &rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// signInUI fills Berth's sign-in form.
func signInUI(user, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		return within(ctx,
			waitShown(`#signin`),
			// The header's sign-in link is drawn by the running app, not the prerendered
			// page: typing before would go into a form the app then replaces.
			waitShown(`#signin-link`),
			typeInto(`#signin-user`, user),
			typeInto(`#signin-password`, password),
			clickOn(`#signin button[type=submit]`),
		)
	})
}

// choose sets a select's value as a user would, firing its change event.
func choose(selector, value string) chromedp.Action[chromedp.Void] {
	return waitJS(`(s => { if (!s) return false; s.value = ` + jsString(value) + `; s.dispatchEvent(new Event("change", {bubbles: true})); return s.value === ` + jsString(value) + `; })(document.querySelector(` + jsString(selector) + `))`)
}

// storedText is everything scripts of the page can read from the browser's storage.
func storedText(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestE2EAccessControlPages drives the account pages with access control on: sign in from
// the header, add a user, make a team with a member and change the role, make the team's
// namespace public, create a robot and a personal token (each shown once, never stored),
// revoke them, filter and page the audit log, see who may do what on a repository as the
// administrator and as a member, and leave no saved page behind at sign-out.
func TestE2EAccessControlPages(t *testing.T) {
	ctx := browser(t)
	base := startGuarded(t, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil { // the tab lives on ctx, not on a step's
		t.Fatal(err)
	}
	// Anonymous: the header offers the sign-in page, which comes back here signed in.
	if err := within(ctx,
		chromedp.Navigate(base+"/activity"),
		waitShown(`#signin-link`),
		clickOn(`#signin-link`),
		waitJS(`location.pathname === "/signin"`),
		signInUI("admin", adminPassword),
		waitJS(`location.pathname === "/activity"`),
		waitShown(`#access-link`),
	); err != nil {
		screenshot(t, ctx, "access-signin-failed")
		t.Fatalf("sign in from the header: %v", err)
	}

	// Users: add carol, disable and enable her.
	if err := within(ctx,
		clickOn(`#access-link`),
		waitShown(`#token-form`),
		clickOn(`.access-tabs a[href="/access/users"]`),
		waitShown(`#users tr[data-user="admin"]`),
		typeInto(`#user-name`, "carol"),
		typeInto(`#user-password`, "carol's long password"),
		clickOn(`#user-create`),
		waitShown(`#users tr[data-user="carol"]`),
		waitJS(`document.querySelector("#user-password").value === ""`),
		clickOn(`#users tr[data-user="carol"] button[aria-label="Disable carol"]`),
		waitJS(`document.querySelector('#users tr[data-user="carol"]').innerText.includes("disabled")`),
		clickOn(`#users tr[data-user="carol"] button[aria-label="Enable carol"]`),
		waitJS(`!document.querySelector('#users tr[data-user="carol"]').innerText.includes("disabled")`),
	); err != nil {
		screenshot(t, ctx, "access-users-failed")
		t.Fatalf("users: %v", err)
	}
	screenshot(t, ctx, "access-users")

	// Teams: create web, add carol as developer, make her maintainer.
	if err := within(ctx,
		clickOn(`.access-tabs a[href="/access/teams"]`),
		waitShown(`#team-form`),
		typeInto(`#team-name`, "web"),
		clickOn(`#team-create`),
		waitJS(`location.pathname === "/access/teams/web"`),
		waitShown(`#members tr[data-member="admin"]`),
		typeInto(`#member-user`, "carol"),
		clickOn(`#member-add`),
		waitShown(`#members tr[data-member="carol"]`),
		waitJS(`document.querySelector("#team-role-carol").value === "developer"`),
		choose(`#team-role-carol`, "maintainer"),
		waitJS(`document.querySelector('.sr-only[role=status]').innerText.includes("carol is maintainer")`),
	); err != nil {
		screenshot(t, ctx, "access-team-failed")
		t.Fatalf("team: %v", err)
	}
	var team api.Team
	if apiAs(t, base, "GET", "/api/v1/teams/web", "admin", adminPassword, nil, &team); len(team.Members) != 2 || team.Members[1] != (api.Member{User: "carol", Role: "maintainer"}) {
		t.Fatalf("team web after the UI's changes: %+v", team.Members)
	}

	// The team's namespace: public, and a robot whose secret is shown once.
	if err := within(ctx,
		clickOn(`a[href="/access/namespaces/web"]`),
		waitShown(`#robot-form`),
		clickOn(`#namespace-public`),
		waitJS(`document.querySelector('.sr-only[role=status]').innerText.includes("public")`),
		typeInto(`#robot-name`, "ci"),
		clickOn(`#robot-create`),
		waitShown(`#new-robot-value`),
		waitShown(`#robots tr[data-robot="robot$web+ci"]`),
	); err != nil {
		screenshot(t, ctx, "access-namespace-failed")
		t.Fatalf("namespace: %v", err)
	}
	robotSecret, _ := chromedp.Run(ctx, textOf(`#new-robot-value`))
	if !strings.HasPrefix(robotSecret, "berth_robot_") || strings.Contains(storedText(t, ctx), robotSecret) {
		t.Errorf("robot secret %q is not shown, or is stored in the browser", robotSecret)
	}
	screenshot(t, ctx, "access-namespace")
	var ns api.Namespace
	if apiAs(t, base, "GET", "/api/v1/namespaces/web", "admin", adminPassword, nil, &ns); !ns.Public {
		t.Errorf("namespace web is not public after the toggle")
	}
	if err := within(ctx,
		clickOn(`#new-robot-done`),
		waitGone(`#new-robot`),
		clickOn(`#robots tr[data-robot="robot$web+ci"] button`),
		waitJS(`document.querySelector('#robots tr[data-robot="robot$web+ci"]').innerText.includes("revoked")`),
	); err != nil {
		t.Fatalf("revoke robot: %v", err)
	}

	// A personal access token: created with an expiry, shown once, listed, revoked.
	if err := within(ctx,
		clickOn(`.access-tabs a[href="/access/tokens"]`),
		waitShown(`#token-form`),
		typeInto(`#token-name`, "laptop"),
		choose(`#token-expires`, "30d"),
		clickOn(`#token-readonly`),
		clickOn(`#token-create`),
		waitShown(`#new-token-value`),
		waitShown(`#tokens tr[data-token="laptop"]`),
	); err != nil {
		screenshot(t, ctx, "access-token-failed")
		t.Fatalf("token: %v", err)
	}
	token, _ := chromedp.Run(ctx, textOf(`#new-token-value`))
	if !strings.HasPrefix(token, "berth_pat_") || strings.Contains(storedText(t, ctx), token) {
		t.Errorf("token %q is not shown, or is stored in the browser", token)
	}
	var s api.Session
	if apiAs(t, base, "GET", "/api/v1/session", "admin", token, nil, &s); s.User != "admin" {
		t.Errorf("the new token does not sign in: %+v", s)
	}
	row, _ := chromedp.Run(ctx, textOf(`#tokens tr[data-token="laptop"]`))
	if !strings.Contains(row, "pull only") {
		t.Errorf("token row %q", row)
	}
	screenshot(t, ctx, "access-tokens")
	if err := within(ctx,
		clickOn(`#new-token-done`),
		// The secret's panel leaves and the table moves up: click once it has.
		waitGone(`#new-token-value`),
		clickOn(`#tokens tr[data-token="laptop"] button`),
		waitJS(`document.querySelector('#tokens tr[data-token="laptop"]').innerText.includes("revoked")`),
	); err != nil {
		t.Fatalf("revoke token: %v", err)
	}
	if apiAs(t, base, "GET", "/api/v1/session", "admin", token, nil, &s); s.User != "" {
		t.Errorf("the revoked token still signs in: %+v", s)
	}

	// The audit log: 55 more teams make two pages of team.create; the filter is in the address.
	for i := range 55 {
		if code := apiAs(t, base, "POST", "/api/v1/teams", "admin", adminPassword, api.Team{Name: "t" + string(rune('a'+i/26)) + string(rune('a'+i%26))}, nil); code != http.StatusCreated {
			t.Fatalf("team %d: %d", i, code)
		}
	}
	if err := within(ctx,
		clickOn(`.access-tabs a[href="/access/audit"]`),
		waitShown(`#audit tbody tr`),
		choose(`#audit-action`, "team.create"),
		choose(`#audit-since`, "1h"),
		typeInto(`#audit-user`, "admin"),
		clickOn(`#audit-apply`),
		waitJS(`location.search.includes("action=team.create") && location.search.includes("user=admin")`),
		waitJS(`document.querySelectorAll("#audit tbody tr").length === 50`),
		clickOn(`#audit-older`),
		waitJS(`document.querySelectorAll("#audit tbody tr").length === 56 && !document.querySelector("#audit-older")`),
	); err != nil {
		screenshot(t, ctx, "access-audit-failed")
		t.Fatalf("audit: %v", err)
	}
	actions, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(new Set(Array.from(document.querySelectorAll("#audit tbody tr td:nth-child(3)")).map(td => td.innerText))).join(",")`))
	if actions != "team.create" {
		t.Errorf("filtered audit shows actions %q", actions)
	}
	screenshot(t, ctx, "access-audit")

	// Who may do what: the administrator sees the namespace's members.
	if err := within(ctx,
		chromedp.Navigate(base+"/repositories/web/app"),
		waitShown(`#repo-access`),
		clickOn(`#repo-access summary`),
		waitShown(`#repo-access-members li[data-member="carol"]`),
	); err != nil {
		screenshot(t, ctx, "access-repo-failed")
		t.Fatalf("repository access: %v", err)
	}
	own, _ := chromedp.Run(ctx, textOf(`#repo-access-own`))
	if !strings.Contains(own, "administrator") || !strings.Contains(own, "pull, push, delete, manage") || !strings.Contains(own, "public") {
		t.Errorf("administrator's access: %q", own)
	}

	// A saved page of the administrator's, then sign-out: nothing of it stays in the browser.
	if err := within(ctx,
		chromedp.Navigate(base+"/repositories/library/alpine:3.21"),
		waitShown(`#platforms`),
	); err != nil {
		t.Fatal(err)
	}
	digest, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("#manifest .fields dd").innerText.match(/sha256:[0-9a-f]{64}/) || [""])[0]`))
	before := storedText(t, ctx)
	if digest == "" || !strings.Contains(before, "berth.api:admin|") || !strings.Contains(before, digest) {
		t.Fatalf("the manifest page is not saved for offline use under admin (digest %q): %.300s", digest, before)
	}
	if err := within(ctx,
		clickOn(`#signout`),
		waitShown(`#signin-link`),
	); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	if after := storedText(t, ctx); strings.Contains(after, "berth.api:") || strings.Contains(after, digest) || strings.Contains(after, `"config"`) {
		t.Errorf("after sign-out the browser still holds saved pages: %.500s", after)
	}

	// carol, a maintainer through team web: her own rights, no member list, no admin pages.
	if err := within(ctx,
		chromedp.Navigate(base+"/signin?return=/repositories/web/app"),
		signInUI("carol", "carol's long password"),
		waitJS(`location.pathname === "/repositories/web/app"`),
		waitShown(`#repo-access`),
	); err != nil {
		screenshot(t, ctx, "access-carol-failed")
		t.Fatalf("carol: %v", err)
	}
	own, _ = chromedp.Run(ctx, textOf(`#repo-access-own`))
	if !strings.Contains(own, "You (maintainer) may pull, push, delete.") {
		t.Errorf("carol's access: %q", own)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#repo-access-members").length`)); n != 0 {
		t.Errorf("a maintainer sees the namespace's members")
	}
	if err := within(ctx,
		clickOn(`#access-link`),
		waitShown(`#token-form`),
		waitJS(`document.querySelectorAll('.access-tabs a').length === 3`),
	); err != nil {
		t.Errorf("carol's account pages: %v", err)
	}
}
