package ui

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// replicationRoutes registers the replication pages; Routes calls it before its catch-all.
func replicationRoutes() {
	app.Route("/replication", func() app.Composer { return &replicationPage{} })
	app.RouteWithRegexp(`^/replication/[a-z0-9]+$`, func() app.Composer { return &rulePage{} })
}

// callReplication runs fn against the replication API off the UI goroutine and hands the
// result to done inside Dispatch, where state may change.
func callReplication[T any](ctx app.Context, fn func(c context.Context, r client.Replication) (T, error), done func(ctx app.Context, v T, err error)) {
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var v T
		r, ok := apiClient().(client.Replication)
		err := error(&api.Error{Code: api.CodeNotFound, Message: "Replication needs a Berth server; this UI reads a registry directly."})
		if ok {
			v, err = fn(c, r)
		}
		ctx.Dispatch(func(ctx app.Context) { done(ctx, v, err) })
	})
}

// replicationPage lists registry endpoints and replication rules, with forms adding them:
// administrators only (the API refuses anyone else, and the page says so).
type replicationPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	session   api.Session
	state     loadState
	err       error
	endpoints []api.RegistryEndpoint
	rules     []api.ReplicationRule
	gen       int

	ep       api.RegistryEndpoint
	epRepos  string // the endpoint's own list of repositories, as typed
	rule     api.ReplicationRule
	busy     bool
	formErr  string
	announce string
	tests    map[string]api.EndpointTest
}

func (p *replicationPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	sessionOf(ctx, &p.session, func(ctx app.Context) {
		if p.state == failed {
			p.load(ctx)
		}
	})
}

func (p *replicationPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	ctx.Page().SetTitle("Replication · Berth")
	p.rule = api.ReplicationRule{Source: api.MainRegistry, Trigger: api.TriggerManual}
	p.load(ctx)
}

type replicationData struct {
	endpoints []api.RegistryEndpoint
	rules     []api.ReplicationRule
}

func (p *replicationPage) load(ctx app.Context) {
	p.gen++
	gen := p.gen
	if p.endpoints == nil {
		p.state = loading
	}
	ctx = p.home.of(ctx)
	callReplication(ctx, func(c context.Context, r client.Replication) (replicationData, error) {
		eps, err := r.RegistryEndpoints(c)
		if err != nil {
			return replicationData{}, err
		}
		rules, err := r.ReplicationRules(c)
		return replicationData{eps, rules}, err
	}, func(ctx app.Context, d replicationData, err error) {
		if gen != p.gen {
			return
		}
		p.endpoints, p.rules, p.err, p.state = d.endpoints, d.rules, err, loaded
		if err != nil {
			p.state = failed
		}
	})
}

func (p *replicationPage) addEndpoint(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if p.busy {
		return
	}
	ep := p.ep
	ep.Name, ep.URL = strings.TrimSpace(ep.Name), strings.TrimSpace(ep.URL)
	ep.Repositories = repositoryList(p.epRepos)
	p.busy, p.formErr, p.ep.Password = true, "", ""
	clearFields("endpoint-password") // the password goes with this request only
	ctx = p.home.of(ctx)
	callReplication(ctx, func(c context.Context, r client.Replication) (api.RegistryEndpoint, error) {
		return r.AddRegistryEndpoint(c, ep)
	},
		func(ctx app.Context, out api.RegistryEndpoint, err error) {
			p.busy = false
			if err != nil {
				p.formErr = err.Error()
				return
			}
			p.ep, p.epRepos, p.announce = api.RegistryEndpoint{}, "", "Endpoint "+out.Name+" added."
			clearFields("endpoint-name", "endpoint-url", "endpoint-username", "endpoint-repositories")
			p.load(ctx)
		})
}

func (p *replicationPage) testEndpoint(name string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		p.announce = "Testing " + name + "…"
		ctx = p.home.of(ctx)
		callReplication(ctx, func(c context.Context, r client.Replication) (api.EndpointTest, error) {
			return r.TestRegistryEndpoint(c, name)
		},
			func(ctx app.Context, res api.EndpointTest, err error) {
				if err != nil {
					res = api.EndpointTest{Message: err.Error()}
				}
				if p.tests == nil {
					p.tests = map[string]api.EndpointTest{}
				}
				p.tests[name], p.announce = res, name+": "+res.Message
			})
	}
}

func (p *replicationPage) removeEndpoint(name string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		ctx = p.home.of(ctx)
		callReplication(ctx, func(c context.Context, r client.Replication) (struct{}, error) {
			return struct{}{}, r.RemoveRegistryEndpoint(c, name)
		},
			func(ctx app.Context, _ struct{}, err error) {
				if err != nil {
					p.formErr = err.Error()
					return
				}
				p.announce = "Endpoint " + name + " removed."
				p.load(ctx)
			})
	}
}

func (p *replicationPage) Render() app.UI {
	body := []app.UI{app.Div().Class("page-head").Body(app.H1().Text("Replication"))}
	switch {
	case !p.session.Admin && p.state != loaded:
		body = append(body, emptyView("Administrators only", "Registry endpoints and replication rules are managed by administrators (with --access-control), or with the berth CLI."))
	case p.state == loading:
		body = append(body, loadingView("registry endpoints and rules"))
	case p.state == failed:
		body = append(body, failure(p.err, p.load))
	default:
		body = append(body, p.renderEndpoints(), p.renderRules())
	}
	body = append(body, app.Div().Class("sr-only").Role("status").Aria("live", "polite").Text(p.announce))
	return page([]crumb{{label: "Replication"}}, body...)
}

func (p *replicationPage) renderEndpoints() app.UI {
	rows := make([]app.UI, len(p.endpoints))
	for i, e := range p.endpoints {
		status := app.UI(app.Span().Class("muted").Text("not tested"))
		if t, ok := p.tests[e.Name]; ok {
			class := "chip"
			if !t.OK {
				class = "chip warn"
			}
			status = app.Span().Class(class).Title(t.Message).Text(map[bool]string{true: "answers", false: "fails"}[t.OK])
		}
		actions := []app.UI{app.Button().Class("button small").Text("Test").Aria("label", "Test connection to "+e.Name).OnClick(p.testEndpoint(e.Name), app.EventScope("test-"+e.Name))}
		if e.Origin == "api" {
			actions = append(actions, app.Button().Class("button small danger").Text("Remove").Aria("label", "Remove endpoint "+e.Name).OnClick(p.removeEndpoint(e.Name), app.EventScope("rm-"+e.Name)))
		}
		user := e.Username
		if e.HasPassword {
			user += " (password kept)"
		}
		where := []app.UI{app.Text(e.URL)}
		if n := len(e.Repositories); n > 0 {
			where = append(where, app.Span().Class("hint endpoint-listed").Title(strings.Join(e.Repositories, "\n")).Text("lists "+map[bool]string{true: "1 repository", false: strconv.Itoa(n) + " repositories"}[n == 1]))
		}
		rows[i] = app.Tr().DataSet("endpoint", e.Name).Body(
			app.Td().Class("mono").Text(e.Name), app.Td().Class("break").Body(where...), app.Td().Text(user),
			app.Td().Text(e.Origin), app.Td().Body(status), app.Td().Body(actions...),
		)
	}
	return app.Section().Body(
		app.H2().ID("endpoints-title").Text("Registry endpoints"),
		accessTable("endpoints", "Registry endpoints", []string{"Name", "URL", "Username", "Origin", "Connection", ""}, rows),
		app.Form().Class("card access-form").ID("endpoint-form").OnSubmit(p.addEndpoint).Body(
			app.H3().Text("Add an endpoint"),
			app.Div().Class("form-row").Body(
				textField("endpoint-name", "Name", p.ep.Name, true, p.ValueTo(&p.ep.Name)),
				textField("endpoint-url", "URL", p.ep.URL, true, p.ValueTo(&p.ep.URL)),
				textField("endpoint-username", "Username", p.ep.Username, false, p.ValueTo(&p.ep.Username)),
				app.Label().For("endpoint-password").Text("Password"),
				app.Input().ID("endpoint-password").Type("password").Attr("autocomplete", "new-password").OnInput(p.ValueTo(&p.ep.Password)),
				checkbox("endpoint-insecure", "Skip TLS verification", p.ep.Insecure, &p.ep.Insecure),
				checkbox("endpoint-nocatalog", "Refuses _catalog", p.ep.NoCatalog, &p.ep.NoCatalog),
			),
			app.Div().Class("field").Body(
				app.Label().For("endpoint-repositories").Text("Repositories to list (one per line or comma-separated; for registries that refuse _catalog, besides the names opened there)"),
				app.Textarea().ID("endpoint-repositories").Rows(3).Attr("spellcheck", "false").Text(p.epRepos).OnInput(p.ValueTo(&p.epRepos)),
			),
			app.Div().Class("form-row").Body(
				app.Button().Type("submit").Class("button").ID("endpoint-add").Disabled(p.busy).Text("Add endpoint"),
			),
			formError(p.formErr),
		),
	)
}

// repositoryList reads repository names typed one per line or separated by commas; the
// server checks each against the registry's grammar.
func repositoryList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// textField is a labelled text input.
func textField(id, label, value string, required bool, onInput app.EventHandler) app.UI {
	return app.Div().Class("field").Body(
		app.Label().For(id).Text(label),
		app.Input().ID(id).Required(required).AutoComplete(false).Value(value).OnInput(onInput),
	)
}

// checkbox is a labelled checkbox bound to v.
func checkbox(id, label string, checked bool, v *bool) app.UI {
	return app.Label().Class("check").Body(
		app.Input().Type("checkbox").ID(id).Checked(checked).OnChange(func(ctx app.Context, e app.Event) {
			*v = ctx.JSSrc().Get("checked").Bool()
		}),
		app.Text(label),
	)
}
