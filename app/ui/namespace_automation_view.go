package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

func (p *automationPage) renderHooks() app.UI {
	rows := []app.UI{}
	for _, h := range p.hooks {
		id := h.ID
		rows = append(rows, app.Tr().DataSet("webhook", id).Body(
			app.Td().Class("break").Text(h.URL),
			app.Td().Text(strings.Join(h.Events, ", ")),
			app.Td().Text(h.Format),
			app.Td().Class("actions").Body(
				app.Button().Class("button small").Text("Send test").Aria("label", "Send a test to "+h.URL).
					OnClick(func(ctx app.Context, e app.Event) {
						p.act(ctx, &p.hookErr, "Test queued.", func(c context.Context, a client.Automation) error { return a.TestWebhook(c, p.name, id) })
					}, app.EventScope(id)),
				app.Button().Class("button small").Text("Deliveries").Aria("label", "Deliveries to "+h.URL).OnClick(p.showDeliveries(id), app.EventScope(id)),
				app.Button().Class("button small danger").Text("Delete").Aria("label", "Delete the webhook to "+h.URL).
					OnClick(func(ctx app.Context, e app.Event) {
						p.act(ctx, &p.hookErr, "Webhook deleted.", func(c context.Context, a client.Automation) error { return a.DeleteWebhook(c, p.name, id) })
					}, app.EventScope(id)),
			),
		))
		if ds, ok := p.deliveries[id]; ok {
			rows = append(rows, app.Tr().Body(app.Td().ColSpan(4).Body(deliveryList(id, ds))))
		}
	}
	var list app.UI = emptyView("No webhooks", "Webhooks tell chat and CI when something is pushed, deleted or pulled here.")
	if len(p.hooks) > 0 {
		list = accessTable("webhooks", "Webhooks of "+p.name, []string{"URL", "Events", "Format", ""}, rows)
	}
	checks := make([]app.UI, len(webhookEventTypes))
	for i, ev := range webhookEventTypes {
		checks[i] = app.Label().Class("check").Body(
			app.Input().Type("checkbox").ID("hook-event-"+ev).Checked(slices.Contains(p.hookEvents, ev)).OnChange(p.toggleEvent(ev), app.EventScope(ev)),
			app.Text(ev),
		)
	}
	return app.Section().Class("access-section").Aria("label", "Webhooks").Body(
		app.H2().Text("Webhooks"),
		// A slot always there, so that showing the secret does not shift (and remount) the form.
		app.Div().ID("hook-secret-slot").Body(app.If(p.shownSecret != "", func() app.UI {
			return app.P().Class("card").ID("hook-secret-shown").Body(app.Text("Signing secret, shown once: "), app.Code().Text(p.shownSecret))
		})),
		app.Form().Class("card access-form").ID("hook-form").OnSubmit(p.createHook).Body(
			app.Div().Class("form-row").Body(
				app.Label().For("hook-url").Text("URL"),
				app.Input().ID("hook-url").Type("url").Required(true).Placeholder("https://chat.example.com/hooks/…").Value(p.hookURL).OnInput(p.ValueTo(&p.hookURL)),
				app.Label().For("hook-format").Text("Format"),
				app.Select().ID("hook-format").Class("filter").Body(
					app.Option().Value("json").Text("JSON").Selected(p.hookFormat == "json"),
					app.Option().Value("cloudevents").Text("CloudEvents 1.0").Selected(p.hookFormat == "cloudevents"),
					app.Option().Value("slack").Text("Slack").Selected(p.hookFormat == "slack"),
				).OnChange(p.ValueTo(&p.hookFormat)),
				app.Label().For("hook-secret").Text("Secret"),
				app.Input().ID("hook-secret").Type("password").Placeholder("empty: Berth makes one").Value(p.hookSecret).OnInput(p.ValueTo(&p.hookSecret)),
			),
			app.FieldSet().Body(append([]app.UI{app.Legend().Text("Events")}, checks...)...),
			app.Button().Type("submit").Class("button").ID("hook-add").Text("Add webhook"),
			app.P().Class("hint").Text("Bodies are signed: X-Berth-Signature-256 is sha256= and the HMAC-SHA256 of the body under the secret. Only hosts the operator allows are reached."),
			formError(p.hookErr),
		),
		list,
	)
}

func deliveryList(id string, ds []api.Delivery) app.UI {
	if len(ds) == 0 {
		return app.P().Class("hint").Text("No deliveries yet.")
	}
	rows := make([]app.UI, len(ds))
	for i, d := range ds {
		status := fmt.Sprint(d.Status)
		if d.Status == 0 {
			status = "no answer"
		}
		t := d.Time
		rows[i] = app.Tr().Body(app.Td().Text(when(&t, "")), app.Td().Text(d.EventType), app.Td().Text(fmt.Sprint(d.Attempt)),
			app.Td().Text(status), app.Td().Class("break").Text(d.Error))
	}
	return accessTable("deliveries-"+id, "Deliveries", []string{"When", "Event", "Attempt", "Status", "Error"}, rows)
}

func ruleSummary(r api.CleanupRule) string {
	var parts []string
	if r.Include != "" {
		parts = append(parts, "include /"+r.Include+"/")
	}
	if r.KeepLast > 0 {
		parts = append(parts, fmt.Sprintf("keep last %d", r.KeepLast))
	}
	if r.OlderThan != "" {
		parts = append(parts, "older than "+r.OlderThan)
	}
	return strings.Join(parts, "; ")
}

func (p *automationPage) renderPolicies() app.UI {
	rows := []app.UI{}
	for _, pol := range p.policies {
		id, next := pol.ID, pol.NextRun
		rows = append(rows, app.Tr().DataSet("policy", id).Body(
			app.Td().Text(pol.Repositories),
			app.Td().Text(ruleSummary(pol.Rule)),
			app.Td().Text("every "+pol.Every),
			app.Td().Text(when(&next, "")),
			app.Td().Class("actions").Body(
				app.Button().Class("button small").Text("Preview").Aria("label", "Preview policy "+id).OnClick(p.showPreview(id), app.EventScope(id)),
				app.Button().Class("button small").Text("Runs").Aria("label", "Runs of policy "+id).OnClick(p.showRuns(id), app.EventScope(id)),
				app.Button().Class("button small danger").Text("Delete").Aria("label", "Delete policy "+id).
					OnClick(func(ctx app.Context, e app.Event) {
						p.act(ctx, &p.retErr, "Policy deleted.", func(c context.Context, a client.Automation) error { return a.DeleteRetentionPolicy(c, p.name, id) })
					}, app.EventScope(id)),
			),
		))
		if plans, ok := p.previews[id]; ok {
			var tags []string
			for _, pl := range plans {
				for _, it := range pl.Delete {
					tags = append(tags, pl.Repository+":"+it.Tag)
				}
			}
			text := "A run now would delete nothing."
			if len(tags) > 0 {
				text = "A run now would delete: " + strings.Join(tags, ", ")
			}
			rows = append(rows, app.Tr().Body(app.Td().ColSpan(5).Class("break").ID("preview-"+id).Text(text)))
		}
		if runs, ok := p.runs[id]; ok {
			rows = append(rows, app.Tr().Body(app.Td().ColSpan(5).Body(runList(id, runs))))
		}
	}
	var list app.UI = emptyView("No retention policies", "A policy deletes the tags a cleanup rule selects, on a schedule; immutable tags always stay.")
	if len(p.policies) > 0 {
		list = accessTable("retention", "Retention policies of "+p.name, []string{"Repositories", "Rule", "Schedule", "Next run", ""}, rows)
	}
	return app.Section().Class("access-section").Aria("label", "Retention").Body(
		app.H2().Text("Retention"),
		app.Form().Class("card access-form").ID("retention-form").OnSubmit(p.createPolicy).Body(
			app.Div().Class("form-row").Body(
				app.Label().For("ret-repos").Text("Repositories"),
				app.Input().ID("ret-repos").Required(true).Value(p.retRepos).OnInput(p.ValueTo(&p.retRepos)),
				app.Label().For("ret-include").Text("Tags matching"),
				app.Input().ID("ret-include").Placeholder("^pr-").Value(p.retInclude).OnInput(p.ValueTo(&p.retInclude)),
				app.Label().For("ret-keep").Text("Keep last"),
				app.Input().ID("ret-keep").Type("number").Min(0).Value(p.retKeep).OnInput(p.ValueTo(&p.retKeep)),
				app.Label().For("ret-older").Text("Older than"),
				app.Input().ID("ret-older").Placeholder("30d").Value(p.retOlder).OnInput(p.ValueTo(&p.retOlder)),
				app.Label().For("ret-every").Text("Every"),
				app.Input().ID("ret-every").Required(true).Value(p.retEvery).OnInput(p.ValueTo(&p.retEvery)),
				app.Button().Type("submit").Class("button").ID("ret-add").Text("Add policy"),
			),
			formError(p.retErr),
		),
		list,
	)
}

func runList(id string, runs []api.RetentionRun) app.UI {
	if len(runs) == 0 {
		return app.P().Class("hint").Text("No runs yet.")
	}
	rows := make([]app.UI, len(runs))
	for i, r := range runs {
		t := r.Started
		rows[i] = app.Tr().Body(app.Td().Text(when(&t, "")), app.Td().Class("break").Text(strings.Join(r.Deleted, ", ")),
			app.Td().Text(api.HumanSize(r.Freed)), app.Td().Class("break").Text(r.Error))
	}
	return accessTable("runs-"+id, "Runs", []string{"Started", "Deleted", "Freed", "Error"}, rows)
}
