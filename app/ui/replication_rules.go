package ui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

func (p *replicationPage) createRule(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if p.busy {
		return
	}
	r := p.rule
	r.Name = strings.TrimSpace(r.Name)
	p.busy, p.formErr = true, ""
	ctx = p.home.of(ctx)
	callReplication(ctx, func(c context.Context, rc client.Replication) (api.ReplicationRule, error) {
		return rc.CreateReplicationRule(c, r)
	},
		func(ctx app.Context, out api.ReplicationRule, err error) {
			p.busy = false
			if err != nil {
				p.formErr = err.Error()
				return
			}
			p.announce = "Rule " + out.Name + " created."
			p.rule = api.ReplicationRule{Source: api.MainRegistry, Trigger: api.TriggerManual}
			clearFields("rule-name", "rule-repositories", "rule-tags", "rule-regex", "rule-semver", "rule-labels", "rule-prefix", "rule-schedule")
			p.load(ctx)
		})
}

func (p *replicationPage) renderRules() app.UI {
	rows := make([]app.UI, len(p.rules))
	for i, r := range p.rules {
		rows[i] = app.Tr().DataSet("rule", r.Name).Body(
			app.Td().Body(app.A().Href(Path("/replication/"+r.ID)).Text(r.Name)),
			app.Td().Text(r.Source+" → "+r.Destination),
			app.Td().Class("mono").Text(ruleFilters(r)),
			app.Td().Text(triggerLabel(r)),
		)
	}
	var list app.UI = emptyView("No rules yet", "A rule copies repositories matching its filters from one endpoint to another.")
	if len(rows) > 0 {
		list = accessTable("rules", "Replication rules", []string{"Rule", "From → to", "Filters", "Trigger"}, rows)
	}
	return app.Section().Body(
		app.H2().ID("rules-title").Text("Replication rules"),
		list,
		app.Form().Class("card access-form").ID("rule-form").OnSubmit(p.createRule).Body(
			app.H3().Text("Create a rule"),
			app.Div().Class("form-row").Body(append(ruleFields("rule", &p.rule, p.endpoints, p.ValueTo),
				app.Button().Type("submit").Class("button").ID("rule-create").Disabled(p.busy).Text("Create rule"))...,
			),
		),
	)
}

func ruleFilters(r api.ReplicationRule) string {
	var parts []string
	for _, f := range []struct{ k, v string }{{"repos", r.Repositories}, {"tags", r.Tags}, {"regex", r.TagRegex}, {"semver", r.SemVer}, {"labels", r.Labels}, {"prefix", r.Prefix}} {
		if f.v != "" {
			parts = append(parts, f.k+"="+f.v)
		}
	}
	if len(parts) == 0 {
		return "everything"
	}
	return strings.Join(parts, " ")
}

func triggerLabel(r api.ReplicationRule) string {
	if r.Trigger == api.TriggerSchedule {
		return "schedule " + r.Schedule
	}
	return r.Trigger
}

// rulePage is one rule: start a dry run or a run, and its history with each run's artifacts.
type rulePage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	session  api.Session
	id       string
	state    loadState
	err      error
	rule     api.ReplicationRule
	runs     []api.ReplicationRun
	busy     bool
	announce string
	gen      int

	editing   bool
	draft     api.ReplicationRule
	endpoints []api.RegistryEndpoint
	formErr   string
}

func (p *rulePage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	sessionOf(ctx, &p.session, func(ctx app.Context) {
		if p.state == failed {
			p.load(ctx)
		}
	})
}

func (p *rulePage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	p.id = strings.TrimPrefix(ctx.Page().URL().Path, Path("/replication/"))
	ctx.Page().SetTitle("Replication rule · Berth")
	p.state = loading
	p.load(ctx)
}

type ruleData struct {
	rule api.ReplicationRule
	runs []api.ReplicationRun
}

func (p *rulePage) load(ctx app.Context) {
	p.gen++
	gen, id := p.gen, p.id
	ctx = p.home.of(ctx)
	callReplication(ctx, func(c context.Context, r client.Replication) (ruleData, error) {
		rules, err := r.ReplicationRules(c)
		if err != nil {
			return ruleData{}, err
		}
		for _, rule := range rules {
			if rule.ID == id {
				runs, err := r.ReplicationRuns(c, id)
				return ruleData{rule, runs}, err
			}
		}
		return ruleData{}, &api.Error{Code: api.CodeNotFound, Message: "No replication rule has this address."}
	}, func(ctx app.Context, d ruleData, err error) {
		if gen != p.gen {
			return
		}
		p.rule, p.runs, p.err, p.state = d.rule, d.runs, err, loaded
		if err != nil {
			p.state = failed
			return
		}
		for _, r := range d.runs { // follow a run until it ends
			if r.State == api.RunQueued || r.State == api.RunRunning {
				ctx.After(time.Second, p.load)
				break
			}
		}
	})
}

func (p *rulePage) start(dry bool) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		if p.busy {
			return
		}
		p.busy = true
		ctx = p.home.of(ctx)
		callReplication(ctx, func(c context.Context, r client.Replication) (api.ReplicationRun, error) {
			return r.RunReplication(c, p.id, dry)
		},
			func(ctx app.Context, run api.ReplicationRun, err error) {
				p.busy = false
				if err != nil {
					p.announce = err.Error()
					return
				}
				p.announce = "Run " + run.ID + " queued."
				p.load(ctx)
			})
	}
}

func (p *rulePage) Render() app.UI {
	body := []app.UI{app.Div().Class("page-head").Body(app.H1().Text("Rule " + p.rule.Name))}
	switch p.state {
	case loading:
		body = append(body, loadingView("the rule"))
	case failed:
		body = append(body, failure(p.err, p.load))
	default:
		body = append(body,
			app.P().Text(fmt.Sprintf("%s → %s · %s · %s", p.rule.Source, p.rule.Destination, ruleFilters(p.rule), triggerLabel(p.rule))),
			app.Div().Class("toolbar").Body(
				app.Button().Class("button secondary").ID("rule-dry-run").Disabled(p.busy).Text("Dry run").OnClick(p.start(true)),
				app.Button().Class("button").ID("rule-run").Disabled(p.busy).Text("Run now").OnClick(p.start(false)),
				app.Button().Class("button secondary").ID("rule-edit").Disabled(p.busy || p.editing).Text("Edit").OnClick(p.edit),
			),
			p.renderEdit(),
			app.H2().Text("History"),
			p.renderRuns(),
		)
	}
	body = append(body, app.Div().Class("sr-only").Role("status").Aria("live", "polite").Text(p.announce))
	return page([]crumb{{label: "Replication", href: Path("/replication")}, {label: p.rule.Name}}, body...)
}

func (p *rulePage) renderRuns() app.UI {
	if len(p.runs) == 0 {
		return emptyView("No runs yet", "Start a dry run to see what the rule would copy.")
	}
	rows := make([]app.UI, len(p.runs))
	for i, r := range p.runs {
		state := r.State
		if r.DryRun {
			state += " (dry run)"
		}
		rows[i] = app.Tr().DataSet("run", r.ID).Body(
			app.Td().Class("created").Text(r.Started.Local().Format("2 Jan 15:04:05")),
			app.Td().Text(r.Trigger), app.Td().Text(state),
			app.Td().Text(fmt.Sprintf("%d copied, %d deleted, %d skipped, %d failed", r.Copied, r.Deleted, r.Skipped, r.Failed)),
			app.Td().Text(api.HumanSize(r.Bytes)), app.Td().Text(strconv.FormatInt(r.DurationMS, 10)+" ms"),
			app.Td().Body(runItems(r)),
		)
	}
	return accessTable("runs", "Runs", []string{"Started", "Trigger", "State", "Artifacts", "Bytes", "Took", "Details"}, rows)
}

// runItems lists a run's artifacts in a disclosure.
func runItems(r api.ReplicationRun) app.UI {
	if len(r.Items) == 0 && r.Error == "" {
		return app.Span().Class("muted").Text("nothing to do")
	}
	lis := []app.UI{}
	if r.Error != "" {
		lis = append(lis, app.Li().Class("error-message").Text(r.Error))
	}
	for _, it := range r.Items {
		line := it.Action + " " + it.Source + " → " + it.Destination
		if it.Reason != "" {
			line += " (" + it.Reason + ")"
		}
		if it.Error != "" {
			line += fmt.Sprintf(": failed after %d attempts: %s", it.Attempts, it.Error)
		}
		lis = append(lis, app.Li().Class("mono").Text(line))
	}
	return app.Details().Body(app.Summary().Text(fmt.Sprintf("%d artifacts", len(r.Items))), app.Ul().Body(lis...))
}
