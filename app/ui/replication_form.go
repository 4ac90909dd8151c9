package ui

import (
	"context"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// ruleFields are a rule's form fields bound to r, their ids starting with prefix: the
// replication page's creating form and a rule page's editing one.
func ruleFields(prefix string, r *api.ReplicationRule, endpoints []api.RegistryEndpoint, valueTo func(any) app.EventHandler) []app.UI {
	id := func(s string) string { return prefix + "-" + s }
	triggers := []app.UI{}
	for _, t := range []string{api.TriggerManual, api.TriggerPush, api.TriggerSchedule} {
		triggers = append(triggers, app.Option().Value(t).Text(t).Selected(r.Trigger == t))
	}
	return []app.UI{
		textField(id("name"), "Name", r.Name, true, valueTo(&r.Name)),
		endpointSelect(id("source"), "Source", endpoints, &r.Source, valueTo),
		endpointSelect(id("destination"), "Destination", endpoints, &r.Destination, valueTo),
		textField(id("repositories"), "Repositories (glob, e.g. team/**)", r.Repositories, false, valueTo(&r.Repositories)),
		textField(id("tags"), "Tags (glob)", r.Tags, false, valueTo(&r.Tags)),
		textField(id("regex"), "Tags (regular expression)", r.TagRegex, false, valueTo(&r.TagRegex)),
		textField(id("semver"), "Version range (e.g. ^1.2)", r.SemVer, false, valueTo(&r.SemVer)),
		textField(id("labels"), "Labels (e.g. com.example.team=payments)", r.Labels, false, valueTo(&r.Labels)),
		textField(id("prefix"), "Destination prefix", r.Prefix, false, valueTo(&r.Prefix)),
		app.Div().Class("field").Body(
			app.Label().For(id("trigger")).Text("Trigger"),
			app.Select().ID(id("trigger")).Class("filter").Body(triggers...).OnChange(valueTo(&r.Trigger)),
		),
		textField(id("schedule"), "Schedule (cron, with trigger schedule)", r.Schedule, false, valueTo(&r.Schedule)),
		checkbox(id("deletions"), "Propagate deletions", r.Deletions, &r.Deletions),
		checkbox(id("overwrite"), "Overwrite tags", r.Overwrite, &r.Overwrite),
		checkbox(id("noreferrers"), "Leave signatures and SBOMs behind", r.NoReferrers, &r.NoReferrers),
	}
}

// endpointSelect is a labelled select of the endpoints' names.
func endpointSelect(id, label string, endpoints []api.RegistryEndpoint, v *string, valueTo func(any) app.EventHandler) app.UI {
	opts := []app.UI{app.Option().Value("").Text("Choose…").Selected(*v == "")}
	for _, e := range endpoints {
		opts = append(opts, app.Option().Value(e.Name).Text(e.Name).Selected(*v == e.Name))
	}
	return app.Div().Class("field").Body(
		app.Label().For(id).Text(label),
		app.Select().ID(id).Class("filter").Required(true).Body(opts...).OnChange(valueTo(v)),
	)
}

// edit opens the rule's editing form, with the endpoints to choose from.
func (p *rulePage) edit(ctx app.Context, e app.Event) {
	if p.busy {
		return
	}
	p.busy, p.formErr = true, ""
	ctx = p.home.of(ctx)
	callReplication(ctx, func(c context.Context, r client.Replication) ([]api.RegistryEndpoint, error) {
		return r.RegistryEndpoints(c)
	}, func(ctx app.Context, eps []api.RegistryEndpoint, err error) {
		p.busy = false
		if err != nil {
			p.announce = err.Error()
			return
		}
		p.endpoints, p.draft, p.editing = eps, p.rule, true
		ctx.Defer(func(app.Context) { focusByID("edit-name") })
	})
}

// save stores the edited rule.
func (p *rulePage) save(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if p.busy {
		return
	}
	r := p.draft
	r.Name = strings.TrimSpace(r.Name)
	p.busy, p.formErr = true, ""
	ctx = p.home.of(ctx)
	callReplication(ctx, func(c context.Context, rc client.Replication) (api.ReplicationRule, error) {
		return rc.UpdateReplicationRule(c, p.id, r)
	}, func(ctx app.Context, out api.ReplicationRule, err error) {
		p.busy = false
		if err != nil {
			p.formErr = err.Error()
			return
		}
		p.rule, p.editing, p.announce = out, false, "Rule "+out.Name+" saved."
		ctx.Defer(func(app.Context) { focusByID("rule-edit") })
	})
}

// renderEdit is the editing form, while open.
func (p *rulePage) renderEdit() app.UI {
	if !p.editing {
		return nil
	}
	return app.Form().Class("card access-form").ID("edit-form").OnSubmit(p.save).Body(
		app.H2().Text("Edit the rule"),
		app.Div().Class("form-row").Body(append(ruleFields("edit", &p.draft, p.endpoints, p.ValueTo),
			app.Button().Type("submit").Class("button").ID("edit-save").Disabled(p.busy).Text("Save"),
			app.Button().Type("button").Class("button secondary").ID("edit-cancel").Text("Cancel").OnClick(func(ctx app.Context, e app.Event) {
				p.editing, p.formErr = false, ""
			}),
		)...),
		formError(p.formErr),
	)
}
