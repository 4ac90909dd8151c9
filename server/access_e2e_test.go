package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/site"
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

// tryFilesHost serves dir under /sub/ as deploy/nginx-static.conf does: the file, the file
// with .html, or the app's index.html for deep links.
func tryFilesHost(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	files := http.StripPrefix("/sub", http.FileServer(http.Dir(dir)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel := strings.TrimPrefix(r.URL.Path, "/sub")
		if !strings.HasPrefix(r.URL.Path, "/sub/") {
			http.NotFound(w, r)
			return
		}
		if st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel))); err != nil || st.IsDir() && rel != "/" {
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel)+".html")); err == nil {
				r.URL.Path += ".html"
			} else {
				// The app's page itself (FileServer would redirect index.html to its directory).
				page, err := os.ReadFile(filepath.Join(dir, "index.html"))
				if err != nil {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = w.Write(page)
				return
			}
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, dir
}

// TestE2EStaticSiteSignIn exports the UI, serves it from a second origin and signs in with
// the authorization code grant and PKCE: the site sees only what carol may see, starts a job
// she may run with her Bearer token, and keeps no token in the browser's storage.
func TestE2EStaticSiteSignIn(t *testing.T) {
	keepEnv(t)
	ctx := browser(t)
	static, dir := tryFilesHost(t)
	base := startGuarded(t, func(c *config.Config) { c.CORSOrigins = []string{static.URL} })
	if code := apiAs(t, base, "POST", "/api/v1/users", "admin", adminPassword, map[string]any{"name": "carol", "password": "carol's long password"}, nil); code != http.StatusCreated {
		t.Fatalf("create carol: %d", code)
	}
	// An image in carol's personal namespace, put there by the administrator.
	var started api.JobStarted
	if code := apiAs(t, base, "POST", "/api/v1/jobs", "admin", adminPassword, api.JobRequest{Kind: api.JobCopy, Source: "library/alpine:3.21", Destination: "carol/alpine:3.21"}, &started); code != http.StatusAccepted {
		t.Fatalf("copy into carol/: %d", code)
	}
	waitJob(t, base, "admin", adminPassword, started.ID)
	if err := site.Export(site.ExportOptions{Dir: dir, WebDir: webDir(t), APIURL: base, BasePath: "/sub/", Version: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil { // the tab lives on ctx, not on a step's
		t.Fatal(err)
	}

	if err := within(ctx,
		chromedp.Navigate(static.URL+"/sub/"),
		waitShown(`#signin-link`),
		clickOn(`#signin-link`),
		waitAcrossPages(`location.origin === `+jsString(base)+` && location.pathname === "/signin" && !!document.querySelector("#signin-user")`),
		signInUI("carol", "carol's long password"),
		waitAcrossPages(`location.origin === `+jsString(static.URL)+` && location.pathname === "/sub/"`),
		waitShown(`#signed-in-user`),
		waitShown(`#repositories a[href="/sub/repositories/carol/alpine"]`),
	); err != nil {
		screenshot(t, ctx, "static-signin-failed")
		t.Fatalf("static site sign-in: %v", err)
	}
	screenshot(t, ctx, "static-signed-in")
	repos, _ := chromedp.Run(ctx, textOf(`#repositories`))
	if strings.Contains(repos, "library/alpine") || strings.Contains(repos, "team/api") {
		t.Errorf("carol's catalog shows others' repositories: %q", repos)
	}
	if s := storedText(t, ctx); strings.Contains(s, "berth_at_") || strings.Contains(s, "berth_ort_") || strings.Contains(s, "berth_code_") {
		t.Errorf("tokens in the browser's storage: %.400s", s)
	}

	// What the tab logs and which of its requests fail, shown if the job view does not end.
	var tabMu sync.Mutex
	var tabLog []string
	_ = chromedp.Listen(ctx, func(ev any) {
		line := ""
		switch e := ev.(type) {
		case *network.EventLoadingFailed:
			line = fmt.Sprintf("request %s failed: %s (canceled %v, blocked %q, CORS %+v)", e.RequestID, e.ErrorText, e.Canceled, e.BlockedReason, e.CorsErrorStatus)
		case *runtime.EventConsoleAPICalled:
			for _, a := range e.Args {
				line += " " + string(a.Value) + a.Description
			}
			line = "console." + string(e.Type) + ":" + line
		case *runtime.EventExceptionThrown:
			line = fmt.Sprintf("exception: %s %+v", e.ExceptionDetails.Text, e.ExceptionDetails.Exception)
		}
		if line != "" {
			tabMu.Lock()
			tabLog = append(tabLog, line)
			tabMu.Unlock()
		}
	})
	logTab := func() {
		tabMu.Lock()
		defer tabMu.Unlock()
		t.Logf("the tab's console and failed requests:\n%s", strings.Join(tabLog, "\n"))
	}
	// A job carol may run (a retag in her namespace), through the static site's Bearer token.
	if err := within(ctx,
		clickOn(`#repositories a[href="/sub/repositories/carol/alpine"]`),
		waitShown(`#tags tr[data-tag="3.21"]`),
		clickOn(`#tags tr[data-tag="3.21"] a`),
		waitShown(`#copy-open`),
		clickOn(`#copy-open`),
		waitShown(`#dest-tag`),
		waitJS(`document.querySelector("#dest-repo").value === "carol/alpine"`),
		typeInto(`#dest-tag`, "mine"),
		clickOn(`#copy-start`),
	); err != nil {
		screenshot(t, ctx, "static-job-failed")
		t.Fatalf("static site job: %v", err)
	}
	// The page follows the job it started (its events stream cross-origin with the Bearer
	// token) to its outcome.
	jobCtx, cancelJob := context.WithTimeout(ctx, 30*time.Second)
	defer cancelJob()
	if err := chromedp.Do(jobCtx,
		waitShown(`#copy-job[data-state="succeeded"] .job-result`),
	); err != nil {
		screenshot(t, ctx, "static-job-view-failed")
		logTab()
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("#copy-job") || {}).outerHTML`))
		t.Fatalf("static site job view: %v; shows %s", err, state)
	}
	screenshot(t, ctx, "static-job-succeeded")
	// A reload forgets the tokens; the site signs in again through Berth's session.
	if err := within(ctx,
		chromedp.Navigate(static.URL+"/sub/repositories/carol/alpine"),
		waitAcrossPages(`location.origin === `+jsString(static.URL)+` && !!document.querySelector("#signed-in-user")`),
		waitShown(`#tags tr[data-tag="mine"]`), // the retag's new tag
	); err != nil {
		screenshot(t, ctx, "static-resignin-failed")
		t.Fatalf("static site after a reload: %v", err)
	}
	var jobs api.JobList
	apiAs(t, base, "GET", "/api/v1/jobs", "carol", "carol's long password", nil, &jobs)
	if len(jobs.Jobs) != 1 || jobs.Jobs[0].User != "carol" || jobs.Jobs[0].Kind != api.JobRetag {
		t.Fatalf("carol's jobs: %+v", jobs.Jobs)
	}
	waitJob(t, base, "carol", "carol's long password", jobs.Jobs[0].ID)
	var tags api.TagPage
	if apiAs(t, base, "GET", "/api/v1/repositories/carol/alpine/tags?details=false", "carol", "carol's long password", nil, &tags); !strings.Contains(tagNames(tags), "mine") {
		t.Errorf("carol/alpine tags after the retag: %s", tagNames(tags))
	}
	// A job she may not run is refused.
	var e api.ErrorBody
	if code := apiAs(t, base, "POST", "/api/v1/jobs", "carol", "carol's long password", api.JobRequest{Kind: api.JobDelete, Repository: "library/alpine", References: []string{"3.21"}}, &e); code != http.StatusForbidden {
		t.Errorf("carol deleting library/alpine: %d %+v", code, e)
	}
}

func tagNames(p api.TagPage) string {
	var names []string
	for _, t := range p.Tags {
		names = append(names, t.Name)
	}
	return strings.Join(names, " ")
}

// waitJob waits until a job ends, and fails unless it succeeded.
func waitJob(t *testing.T, base, user, password, id string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var j api.Job
		apiAs(t, base, "GET", "/api/v1/jobs/"+id, user, password, nil, &j)
		switch {
		case j.State == api.JobSucceeded:
			return
		case j.State != "" && j.State != api.JobRunning:
			t.Fatalf("job %s: %+v", id, j)
		case time.Now().After(deadline):
			t.Fatalf("job %s did not end: %+v", id, j)
		}
		time.Sleep(50 * time.Millisecond) // polling for the end, not asserting after a sleep
	}
}

// within runs actions with a deadline of their own, so a step that cannot happen fails the
// test in 90 s instead of at the browser's end.
func within(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) error {
	c, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	return chromedp.Do(c, actions...)
}

// waitAcrossPages waits until expr is true while the tab goes through redirects and page
// loads, which end the JavaScript contexts a plain poll runs in.
func waitAcrossPages(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		last := ""
		for {
			// A page reached through redirects may count as hidden, and then gets no
			// animation frames, in which go-app draws its updates.
			_, _ = chromedp.Call(ctx, page.BringToFront, cdp.Empty{})
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
			if err == nil && ok {
				return nil
			}
			last = fmt.Sprint(ok, err)
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("#copy-job") || {}).outerHTML + " " + document.visibilityState`))
			last += " " + state
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s (last: %s): %w", expr, last, ctx.Err())
			case <-tick.C:
			}
		}
	})
}

// TestE2EAccessibilityOfAccessPages runs axe-core on the sign-in page and the account pages
// (with a secret shown once), and the repository's "who may do what", in light and dark, on
// a desktop and a phone, where nothing may be wider than the screen.
func TestE2EAccessibilityOfAccessPages(t *testing.T) {
	script := axeScript(t)
	ctx := browser(t)
	base := startGuarded(t, nil)
	for _, c := range []struct {
		path string
		body any
	}{
		{"/api/v1/users", map[string]any{"name": "carol", "password": "carol's long password"}},
		{"/api/v1/teams", api.Team{Name: "web", Description: "the web team"}},
		{"/api/v1/teams/web/members/carol", api.RoleRequest{Role: "developer"}},
	} {
		method := "POST"
		if strings.Contains(c.path, "/members/") {
			method = "PUT"
		}
		if code := apiAs(t, base, method, c.path, "admin", adminPassword, c.body, nil); code >= 300 {
			t.Fatalf("%s %s: %d", method, c.path, code)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/signin"), signInUI("admin", adminPassword), waitShown(`#access-link`)); err != nil {
		t.Fatal(err)
	}
	for _, l := range looks {
		if err := chromedp.Do(ctx, look(l.width, l.height, l.dark)); err != nil {
			t.Fatal(err)
		}
		states := []struct {
			name  string
			steps []chromedp.Action[chromedp.Void]
		}{
			{"tokens-secret", []chromedp.Action[chromedp.Void]{
				visit(base + "/access/tokens"), waitShown(`#token-form`),
				typeInto(`#token-name`, "a11y-"+l.name), clickOn(`#token-create`), waitShown(`#new-token-value`),
				waitShown(`#tokens tbody tr`),
			}},
			{"users", []chromedp.Action[chromedp.Void]{visit(base + "/access/users"), waitShown(`#users tr[data-user="carol"]`)}},
			{"teams", []chromedp.Action[chromedp.Void]{visit(base + "/access/teams"), waitShown(`#teams tr[data-team="web"]`)}},
			{"team", []chromedp.Action[chromedp.Void]{visit(base + "/access/teams/web"), waitShown(`#members tr[data-member="carol"]`)}},
			{"namespaces", []chromedp.Action[chromedp.Void]{visit(base + "/access/namespaces"), waitShown(`#namespaces tr[data-namespace="web"]`)}},
			{"namespace-robot-secret", []chromedp.Action[chromedp.Void]{
				visit(base + "/access/namespaces/web"), waitShown(`#robot-form`),
				typeInto(`#robot-name`, "a11y-"+l.name), clickOn(`#robot-create`), waitShown(`#new-robot-value`),
				waitShown(`#robots tbody tr`),
			}},
			{"audit", []chromedp.Action[chromedp.Void]{visit(base + "/access/audit"), waitShown(`#audit tbody tr`)}},
			{"repository-access", []chromedp.Action[chromedp.Void]{
				visit(base + "/repositories/web/app"), waitShown(`#repo-access`), clickOn(`#repo-access summary`),
				waitShown(`#repo-access-members`),
			}},
		}
		for _, s := range states {
			name := s.name + "-" + l.name
			if err := within(ctx, s.steps...); err != nil {
				t.Errorf("%s: %v", name, err)
				screenshot(t, ctx, "a11y-failed-"+name)
				continue
			}
			checkAxe(t, ctx, script, name)
			if l.width < 640 {
				noOverflow(t, ctx, name)
			}
			screenshot(t, ctx, "a11y-"+name)
		}
	}
	// The sign-in page, signed out.
	if err := within(ctx, look(390, 844, false), clickOn(`#signout`), waitShown(`#signin-link`),
		chromedp.Navigate(base+"/signin"), waitShown(`#signin-link`)); err != nil {
		t.Fatal(err)
	}
	checkAxe(t, ctx, script, "signin-page-phone")
	noOverflow(t, ctx, "signin-page-phone")
	// Keyboard: the account tabs and a form are reachable and usable with Tab and Enter.
	if err := within(ctx, look(1280, 800, false), signInUI("admin", adminPassword), waitShown(`#access-link`),
		chromedp.Navigate(base+"/access/teams"), waitShown(`#team-form`),
		// Focused and typed into without holding a node: the form may re-render meanwhile.
		waitJS(`(() => { const e = document.querySelector("#team-name"); if (!e) return false; e.focus(); return document.activeElement === e })()`),
		chromedp.KeyEvent("keys"), chromedp.KeyEvent("\r"),
		waitJS(`location.pathname === "/access/teams/keys"`),
	); err != nil {
		t.Errorf("keyboard: %v", err)
	}
}
