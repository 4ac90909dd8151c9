package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

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
