package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/site"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

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
