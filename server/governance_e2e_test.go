package main

import (
	"strings"
	"sync"

	"github.com/chromedp/cdproto/runtime"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
)

// TestE2ENamespacePolicies: an administrator sees the namespace's usage against its quota
// as a meter, adds an immutable rule and lifts it, and sets the namespace's pull policy, from
// the namespace's page.
func TestE2ENamespacePolicies(t *testing.T) {
	ctx := browser(t)
	base := startGuarded(t, func(c *config.Config) { c.NoDemo, c.WebhookHosts = true, []string{"127.0.0.1:9"} })
	for _, step := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/teams", map[string]string{"name": "team"}},
		{"PUT", "/api/v1/namespaces/team/quota", api.QuotaRequest{StorageLimit: "1MB", TagLimit: 10}},
	} {
		if code := apiAs(t, base, step.method, step.path, "admin", adminPassword, step.body, nil); code >= 300 {
			t.Fatalf("%s %s: %d", step.method, step.path, code)
		}
	}
	if ok, out := skopeoAs(t, "admin:"+adminPassword, ociImage(t, layered(t, randomLayer(t, 300<<10))), "docker://"+strings.TrimPrefix(base, "http://")+"/team/app:v1"); !ok {
		t.Fatalf("push: %s", out)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	if err := within(ctx,
		chromedp.Navigate(base+"/signin"),
		signInUI("admin", adminPassword),
		waitShown(`#access-link`),
		chromedp.Navigate(base+"/access/namespaces/team"),
		waitShown(`#ns-policies`),
		clickOn(`#ns-policies`),
		waitShown(`meter#quota-storage`),
		waitJS(`(m => m.max === 1000000 && m.value > 300000 && m.value < 400000)(document.querySelector("meter#quota-storage"))`),
		waitJS(`document.querySelector('label[for="quota-storage"]') !== null && document.querySelector("#quota").innerText.includes("of 1.0 MB")`),
		typeInto(`#rule-patterns`, "v* !*-rc*"),
		clickOn(`#rule-add`),
		waitShown(`#immutable-rules tr[data-rule="1"]`),
		waitJS(`document.querySelector('#immutable-rules tr[data-rule="1"]').innerText.includes("in force")`),
		clickOn(`button[aria-label="Lift rule 1"]`),
		waitJS(`document.querySelector('#immutable-rules tr[data-rule="1"]').innerText.includes("lifted")`),
		// The pull policy: the global default until the administrator sets the namespace's.
		waitJS(`document.querySelector("#pull-policy-summary").innerText.includes("the global default applies")`),
		choose(`#pull-severity`, "high"),
		clickOn(`#pull-signed`),
		clickOn(`#pull-save`),
		waitJS(`(t => t.includes("at or above high") && t.includes("without a cosign signature") && !t.includes("global"))(document.querySelector("#pull-policy-summary").innerText)`),
	); err != nil {
		screenshot(t, ctx, "policies-failed")
		t.Fatalf("policies page: %v", err)
	}
	screenshot(t, ctx, "namespace-policies")

	// Webhooks and retention: add a webhook (its secret shown once) and a policy, preview it.
	var tabMu sync.Mutex
	var tabLog []string
	_ = chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventConsoleAPICalled); ok {
			line := "console." + string(e.Type) + ":"
			for _, a := range e.Args {
				line += " " + string(a.Value) + a.Description
			}
			tabMu.Lock()
			tabLog = append(tabLog, line)
			tabMu.Unlock()
		}
	})
	if err := within(ctx,
		chromedp.Navigate(base+"/access/namespaces/team"),
		waitShown(`#ns-automation`),
		clickOn(`#ns-automation`),
		waitShown(`#hook-form`),
		typeInto(`#hook-url`, "http://127.0.0.1:9/hook"),
		clickOn(`#hook-add`),
		waitShown(`#hook-secret-shown`),
		waitShown(`#webhooks tr[data-webhook]`),
		typeInto(`#ret-include`, "^v"),
		clickOn(`#ret-add`),
		waitShown(`#retention tr[data-policy]`),
		clickOn(`#retention tr[data-policy] button[aria-label^="Preview"]`),
		waitJS(`[...document.querySelectorAll("[id^=preview-]")].some(e => e.innerText.includes("team/app:v1"))`),
	); err != nil {
		screenshot(t, ctx, "automation-failed")
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/api/v1/namespaces/team/webhooks").then(r => r.text())`, chromedp.EvalAwaitPromise))
		t.Logf("list: %s", got)
		tabMu.Lock()
		t.Logf("console:\n%s", strings.Join(tabLog, "\n"))
		tabMu.Unlock()
		t.Fatalf("webhooks and retention page: %v", err)
	}
	screenshot(t, ctx, "namespace-automation")
}
