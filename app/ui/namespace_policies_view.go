package ui

import (
	"context"
	"fmt"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// usageMeter shows used of limit as a <meter> (its own role and value for screen readers)
// with the numbers in words beside it; past 80 % it turns to the warning colour.
func usageMeter(id, label string, used, limit int64, format func(int64) string) app.UI {
	if limit <= 0 {
		return app.P().ID(id).Text(label + ": " + format(used) + ", no limit")
	}
	pct := float64(used) * 100 / float64(limit)
	words := fmt.Sprintf("%s of %s (%.0f %%)", format(used), format(limit), pct)
	return app.Div().Class("quota-row").Body(
		app.Label().For(id).Text(label),
		app.Meter().ID(id).Min(0).Max(limit).Value(min(used, limit)).Low(float64(limit)*0.8).High(float64(limit)*0.8).Optimum(0).
			Aria("valuetext", words).Title(words),
		app.Span().Class("quota-words").Text(words),
	)
}

func (p *policiesPage) renderQuota() app.UI {
	q := p.quota
	count := func(n int64) string { return fmt.Sprint(n) }
	return app.Section().Class("access-section").Aria("label", "Quota").Body(
		app.H2().Text("Quota"),
		app.Div().Class("card").ID("quota").Body(
			usageMeter("quota-storage", "Storage", q.Used, q.StorageLimit, api.HumanSize),
			usageMeter("quota-tags", "Tags", q.Tags, q.TagLimit, count),
			app.P().Class("hint").Text(fmt.Sprintf("%d repositories; each blob counts once however many images of the namespace share it. Pushes past a limit are refused; passing 80 %% is recorded once.", q.Repositories)),
			app.If(q.Warned != nil, func() app.UI {
				return app.P().Class("warning").Text("Over 80 % of a limit since " + when(q.Warned, ""))
			}),
		),
		app.If(p.session.Admin, func() app.UI {
			return app.Form().Class("card access-form").ID("quota-form").OnSubmit(p.setQuota).Body(
				app.Div().Class("form-row").Body(
					app.Label().For("quota-storage-limit").Text("Storage limit"),
					app.Input().ID("quota-storage-limit").Placeholder("10GB, 512MiB; empty: none").Value(p.storageLimit).OnInput(p.ValueTo(&p.storageLimit)),
					app.Label().For("quota-tag-limit").Text("Tag limit"),
					app.Input().ID("quota-tag-limit").Type("number").Min(0).Placeholder("none").Value(p.tags).OnInput(p.ValueTo(&p.tags)),
					app.Button().Type("submit").Class("button").ID("quota-save").Text("Save quota"),
				),
				formError(p.quotaErr),
			)
		}),
	)
}

func (p *policiesPage) renderRules() app.UI {
	rows := make([]app.UI, len(p.rules))
	for i, r := range p.rules {
		id, state := r.ID, "in force"
		if r.Lifted {
			state = "lifted"
		}
		var actions app.UI
		if p.session.Admin {
			lift := !r.Lifted
			verb := map[bool]string{true: "Lift", false: "Restore"}[lift]
			actions = app.Div().Body(
				app.Button().Class("button small").Text(verb).Aria("label", fmt.Sprintf("%s rule %d", verb, id)).
					OnClick(func(ctx app.Context, e app.Event) {
						p.change(ctx, &p.ruleErr, fmt.Sprintf("Rule %d %s.", id, map[bool]string{true: "lifted", false: "restored"}[lift]),
							func(c context.Context, g client.Governance) error { return g.LiftImmutableRule(c, p.name, id, lift) })
					}, app.EventScope(fmt.Sprint(id, lift))),
				app.Button().Class("button small danger").Text("Delete").Aria("label", fmt.Sprintf("Delete rule %d", id)).
					OnClick(func(ctx app.Context, e app.Event) {
						p.change(ctx, &p.ruleErr, fmt.Sprintf("Rule %d deleted.", id),
							func(c context.Context, g client.Governance) error { return g.DeleteImmutableRule(c, p.name, id) })
					}, app.EventScope(fmt.Sprint(id))),
			)
		}
		rows[i] = app.Tr().DataSet("rule", id).Body(
			app.Td().Class("break").Text(strings.Join(r.Patterns, " ")),
			app.Td().Text(state),
			app.Td().Text(r.CreatedBy),
			app.Td().Class("actions").Body(actions),
		)
	}
	var list app.UI = emptyView("No immutable tags", "Tags matching a rule cannot be overwritten or deleted once pushed.")
	if len(rows) > 0 {
		list = accessTable("immutable-rules", "Immutable tag rules of "+p.name, []string{"Patterns", "State", "Added by", ""}, rows)
	}
	return app.Section().Class("access-section").Aria("label", "Immutable tags").Body(
		app.H2().Text("Immutable tags"),
		app.Form().Class("card access-form").ID("rule-form").OnSubmit(p.addRule).Body(
			app.Div().Class("form-row").Body(
				app.Label().For("rule-patterns").Text("Patterns"),
				app.Input().ID("rule-patterns").Required(true).Placeholder("v* !*-rc*").Value(p.patterns).OnInput(p.ValueTo(&p.patterns)),
				app.Button().Type("submit").Class("button").ID("rule-add").Text("Add rule"),
			),
			app.P().Class("hint").Text("Globs over tags, separated by spaces; a leading ! excludes. Only administrators lift a rule."),
			formError(p.ruleErr),
		),
		list,
	)
}
