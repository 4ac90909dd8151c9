package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// policiesPage shows a namespace's policies: immutable tag rules, its quota with what it
// uses, and its pull policy. Owners add rules; administrators lift, restore and delete them
// and set the quota and the pull policy.
type policiesPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	session api.Session
	name    string
	state   loadState
	err     error
	rules   []api.ImmutableRule
	quota   api.Quota
	pull    pullForm // namespace_pullpolicy.go

	patterns           string
	storageLimit, tags string
	ruleErr, quotaErr  string
	announce           string
	gen                int
}

func policiesURL(ns string) string { return Path("/access/namespaces/" + ns + "/policies") }

// callGovernance runs fn against the policies' API off the UI goroutine, like callAccounts.
func callGovernance[T any](ctx app.Context, fn func(c context.Context, g client.Governance) (T, error), done func(ctx app.Context, v T, err error)) {
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var v T
		err := error(&api.Error{Code: api.CodeNotFound, Message: "Namespace policies need a Berth server with access control."})
		if g, ok := apiClient().(client.Governance); ok {
			v, err = fn(c, g)
		}
		ctx.Dispatch(func(ctx app.Context) { done(ctx, v, err) })
	})
}

func (p *policiesPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	sessionOf(ctx, &p.session, func(ctx app.Context) {
		if p.state == failed {
			p.load(ctx)
		}
	})
}

func (p *policiesPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	p.name = strings.TrimSuffix(strings.TrimPrefix(ctx.Page().URL().Path, Path("/access/namespaces/")), "/policies")
	ctx.Page().SetTitle("Policies of %s · Berth", p.name)
	p.load(ctx)
}

type policiesView struct {
	rules     []api.ImmutableRule
	quota     api.Quota
	pull      api.PullPolicy
	pullKnown bool
}

func (p *policiesPage) load(ctx app.Context) {
	p.gen++
	gen, name := p.gen, p.name
	p.state = loading
	ctx = p.home.of(ctx)
	callGovernance(ctx, func(c context.Context, g client.Governance) (policiesView, error) {
		rules, err := g.ImmutableRules(c, name)
		if err != nil {
			return policiesView{}, err
		}
		q, err := g.Quota(c, name)
		if err != nil {
			return policiesView{}, err
		}
		pull, known, err := loadPull(c, g, name)
		return policiesView{rules: rules, quota: q, pull: pull, pullKnown: known}, err
	}, func(ctx app.Context, v policiesView, err error) {
		if gen != p.gen {
			return
		}
		first := p.rules == nil
		p.rules, p.quota, p.err, p.state = v.rules, v.quota, err, loaded
		if err != nil {
			p.state = failed
			return
		}
		p.pull.showPull(v.pull, v.pullKnown, first)
		if p.storageLimit == "" && v.quota.StorageLimit > 0 {
			p.storageLimit = fmt.Sprint(v.quota.StorageLimit)
		}
		if p.tags == "" && v.quota.TagLimit > 0 {
			p.tags = fmt.Sprint(v.quota.TagLimit)
		}
	})
}

// change runs a change and reloads, announcing msg or showing the error in *errField.
func (p *policiesPage) change(ctx app.Context, errField *string, msg string, fn func(c context.Context, g client.Governance) error) {
	*errField = ""
	ctx = p.home.of(ctx)
	callGovernance(ctx, func(c context.Context, g client.Governance) (struct{}, error) { return struct{}{}, fn(c, g) },
		func(ctx app.Context, _ struct{}, err error) {
			if err != nil {
				*errField = err.Error()
				return
			}
			p.announce = msg
			p.load(ctx)
		})
}

func (p *policiesPage) addRule(ctx app.Context, e app.Event) {
	e.PreventDefault()
	name, patterns := p.name, strings.Fields(p.patterns)
	p.change(ctx, &p.ruleErr, "Rule added.", func(c context.Context, g client.Governance) error {
		_, err := g.AddImmutableRule(c, name, patterns)
		return err
	})
	p.patterns = ""
	clearFields("rule-patterns")
}

func (p *policiesPage) setQuota(ctx app.Context, e app.Event) {
	e.PreventDefault()
	var tags int64
	if strings.TrimSpace(p.tags) != "" {
		if _, err := fmt.Sscan(p.tags, &tags); err != nil {
			p.quotaErr = "The tag limit is a whole number (0: none)."
			return
		}
	}
	name, req := p.name, api.QuotaRequest{StorageLimit: strings.TrimSpace(p.storageLimit), TagLimit: tags}
	p.change(ctx, &p.quotaErr, "Quota saved.", func(c context.Context, g client.Governance) error {
		_, err := g.SetQuota(c, name, req)
		return err
	})
}

func (p *policiesPage) Render() app.UI {
	var body []app.UI
	switch {
	case p.state == failed:
		body = []app.UI{failure(p.err, p.load)}
	case p.state == loading && p.rules == nil:
		body = []app.UI{loadingView("the policies")}
	default:
		body = []app.UI{
			app.P().Body(app.A().Href(namespaceURL(p.name)).Text("← Namespace " + p.name)),
			p.renderQuota(), app.If(p.pull.known, p.renderPull), p.renderRules(),
		}
	}
	body = append(body, app.Div().Class("sr-only").Role("status").Aria("live", "polite").Text(p.announce))
	return accessPage(p.session, "namespaces", "Policies of "+p.name, body...)
}
