package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// automationPage shows a namespace's outbound webhooks (with their delivery logs and a test
// button) and its scheduled retention policies (with a preview and their runs).
type automationPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	session  api.Session
	name     string
	state    loadState
	err      error
	hooks    []api.Webhook
	policies []api.RetentionPolicy

	hookURL, hookFormat, hookSecret string
	hookEvents                      []string
	shownSecret                     string
	deliveries                      map[string][]api.Delivery

	retRepos, retInclude, retKeep, retOlder, retEvery string
	previews                                          map[string][]api.CleanupPlan
	runs                                              map[string][]api.RetentionRun

	hookErr, retErr, announce string
	gen                       int

	// page is the page's own context (OnMount's): loads dispatch through it, since go-app
	// drops what is dispatched from an element no longer mounted, and the element an action
	// started from may be gone by the time its reload answers.
	page    app.Context
	hasPage bool
}

func automationURL(ns string) string { return Path("/access/namespaces/" + ns + "/automation") }

// webhookEventTypes are the event types the form offers, as the server knows them.
var webhookEventTypes = []string{"push", "delete", "pull", "scan.finished", "quota.warning", "replication.finished", "job.failed"}

func callAutomation[T any](ctx app.Context, fn func(c context.Context, a client.Automation) (T, error), done func(ctx app.Context, v T, err error)) {
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var v T
		err := error(&api.Error{Code: api.CodeNotFound, Message: "Webhooks and retention need a Berth server with access control."})
		if a, ok := apiClient().(client.Automation); ok {
			v, err = fn(c, a)
		}
		ctx.Dispatch(func(ctx app.Context) { done(ctx, v, err) })
	})
}

func (p *automationPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	p.page, p.hasPage = ctx, true
	sessionOf(ctx, &p.session, func(ctx app.Context) {
		if p.state == failed {
			p.load(ctx)
		}
	})
}

func (p *automationPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	p.name = strings.TrimSuffix(strings.TrimPrefix(ctx.Page().URL().Path, Path("/access/namespaces/")), "/automation")
	ctx.Page().SetTitle("Webhooks and retention of %s · Berth", p.name)
	p.hookFormat, p.hookEvents, p.retEvery, p.retRepos = "json", []string{"push"}, "1d", p.name+"/*"
	p.deliveries, p.previews, p.runs = map[string][]api.Delivery{}, map[string][]api.CleanupPlan{}, map[string][]api.RetentionRun{}
	p.load(ctx)
}

type automationView struct {
	hooks    []api.Webhook
	policies []api.RetentionPolicy
}

func (p *automationPage) load(ctx app.Context) {
	if p.hasPage {
		ctx = p.page
	}
	p.gen++
	gen, name := p.gen, p.name
	p.state = loading
	ctx = p.home.of(ctx)
	callAutomation(ctx, func(c context.Context, a client.Automation) (automationView, error) {
		hooks, err := a.Webhooks(c, name)
		if err != nil {
			return automationView{}, err
		}
		policies, err := a.RetentionPolicies(c, name)
		return automationView{hooks, policies}, err
	}, func(ctx app.Context, v automationView, err error) {
		if gen != p.gen {
			return
		}
		p.hooks, p.policies, p.err, p.state = v.hooks, v.policies, err, loaded
		if err != nil {
			p.state = failed
		}
	})
}

// act runs fn, then reloads (or shows the error in *errField).
func (p *automationPage) act(ctx app.Context, errField *string, msg string, fn func(c context.Context, a client.Automation) error) {
	*errField = ""
	ctx = p.home.of(ctx)
	callAutomation(ctx, func(c context.Context, a client.Automation) (struct{}, error) { return struct{}{}, fn(c, a) },
		func(ctx app.Context, _ struct{}, err error) {
			if err != nil {
				*errField = err.Error()
				return
			}
			p.announce = msg
			p.load(ctx)
		})
}

func (p *automationPage) createHook(ctx app.Context, e app.Event) {
	e.PreventDefault()
	name := p.name
	req := api.WebhookRequest{URL: strings.TrimSpace(p.hookURL), Events: slices.Clone(p.hookEvents), Format: p.hookFormat, Secret: p.hookSecret}
	p.hookErr, p.shownSecret = "", ""
	ctx = p.home.of(ctx)
	callAutomation(ctx, func(c context.Context, a client.Automation) (api.WebhookCreated, error) {
		return a.CreateWebhook(c, name, req)
	},
		func(ctx app.Context, w api.WebhookCreated, err error) {
			if err != nil {
				p.hookErr = err.Error()
				return
			}
			p.shownSecret, p.hookURL, p.hookSecret, p.announce = w.Secret, "", "", "Webhook added."
			clearFields("hook-url", "hook-secret")
			p.load(ctx)
		})
}

func (p *automationPage) toggleEvent(ev string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		if ctx.JSSrc().Get("checked").Bool() {
			if !slices.Contains(p.hookEvents, ev) {
				p.hookEvents = append(p.hookEvents, ev)
			}
			return
		}
		p.hookEvents = slices.DeleteFunc(p.hookEvents, func(x string) bool { return x == ev })
	}
}

func (p *automationPage) showDeliveries(id string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		name := p.name
		ctx = p.home.of(ctx)
		callAutomation(ctx, func(c context.Context, a client.Automation) ([]api.Delivery, error) { return a.Deliveries(c, name, id) },
			func(ctx app.Context, ds []api.Delivery, err error) {
				if err != nil {
					p.hookErr = err.Error()
					return
				}
				p.deliveries[id] = ds
			})
	}
}

func (p *automationPage) createPolicy(ctx app.Context, e app.Event) {
	e.PreventDefault()
	var keep int
	if strings.TrimSpace(p.retKeep) != "" {
		if _, err := fmt.Sscan(p.retKeep, &keep); err != nil {
			p.retErr = "Keep last is a whole number."
			return
		}
	}
	name := p.name
	pol := api.RetentionPolicy{Repositories: strings.TrimSpace(p.retRepos), Every: strings.TrimSpace(p.retEvery),
		Rule: api.CleanupRule{Include: p.retInclude, KeepLast: keep, OlderThan: strings.TrimSpace(p.retOlder)}}
	p.act(ctx, &p.retErr, "Retention policy added.", func(c context.Context, a client.Automation) error {
		_, err := a.CreateRetentionPolicy(c, name, pol)
		return err
	})
}

func (p *automationPage) showPreview(id string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		name := p.name
		ctx = p.home.of(ctx)
		callAutomation(ctx, func(c context.Context, a client.Automation) ([]api.CleanupPlan, error) {
			return a.RetentionPreview(c, name, id)
		},
			func(ctx app.Context, plans []api.CleanupPlan, err error) {
				if err != nil {
					p.retErr = err.Error()
					return
				}
				p.previews[id] = plans
			})
	}
}

func (p *automationPage) showRuns(id string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		name := p.name
		ctx = p.home.of(ctx)
		callAutomation(ctx, func(c context.Context, a client.Automation) ([]api.RetentionRun, error) {
			return a.RetentionRuns(c, name, id)
		},
			func(ctx app.Context, runs []api.RetentionRun, err error) {
				if err != nil {
					p.retErr = err.Error()
					return
				}
				p.runs[id] = runs
			})
	}
}

func (p *automationPage) Render() app.UI {
	var body []app.UI
	switch {
	case p.state == failed:
		body = []app.UI{failure(p.err, p.load)}
	case p.state == loading && p.hooks == nil:
		body = []app.UI{loadingView("webhooks and retention")}
	default:
		body = []app.UI{
			app.P().Body(app.A().Href(namespaceURL(p.name)).Text("← Namespace " + p.name)),
			p.renderHooks(), p.renderPolicies(),
		}
	}
	body = append(body, app.Div().Class("sr-only").Role("status").Aria("live", "polite").Text(p.announce))
	return accessPage(p.session, "namespaces", "Webhooks and retention of "+p.name, body...)
}
