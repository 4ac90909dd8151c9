package ui

import (
	"context"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// pullForm is the pull policy section's state: the policy shown and the administrators' form.
type pullForm struct {
	policy         api.PullPolicy
	known          bool // the server answered the policy
	severity, keys string
	signed         bool
	err            string
}

// loadPull reads ns's pull policy (known false when the client has no such API).
func loadPull(c context.Context, g client.Governance, ns string) (api.PullPolicy, bool, error) {
	pp, ok := g.(client.PullPolicies)
	if !ok {
		return api.PullPolicy{}, false, nil
	}
	p, err := pp.PullPolicy(c, ns)
	return p, err == nil, err
}

// showPull takes a loaded policy into the form (its fields only when first shown).
func (f *pullForm) showPull(p api.PullPolicy, known, first bool) {
	f.policy, f.known = p, known
	if first && !p.Global {
		f.severity, f.signed, f.keys = p.Severity, p.Signed, p.Keys
	}
}

func (p *policiesPage) setPull(ctx app.Context, e app.Event) {
	e.PreventDefault()
	name, req := p.name, api.PullPolicyRequest{Severity: p.pull.severity, Signed: p.pull.signed, Keys: strings.TrimSpace(p.pull.keys)}
	p.change(ctx, &p.pull.err, "Pull policy saved.", func(c context.Context, g client.Governance) error {
		pp, ok := g.(client.PullPolicies)
		if !ok {
			return &api.Error{Code: api.CodeNotFound, Message: "This server keeps no pull policies."}
		}
		_, err := pp.SetPullPolicy(c, name, req)
		return err
	})
}

// pullSummary says what a policy refuses, in words.
func pullSummary(p api.PullPolicy) string {
	parts := []string{}
	if p.Severity != "" {
		parts = append(parts, "images with a finding at or above "+p.Severity)
	}
	if p.Signed && p.Keys != "" {
		parts = append(parts, "images without a cosign signature by the policy's keys")
	} else if p.Signed {
		parts = append(parts, "images without a cosign signature")
	}
	what := "Nothing is refused."
	if len(parts) > 0 {
		what = "Pulls are refused of " + strings.Join(parts, ", and of ") + "."
	}
	if p.Global {
		return "No policy of its own: the global default applies. " + what
	}
	return what
}

// renderPull is the pull policy section (rendered when the server answered the policy).
func (p *policiesPage) renderPull() app.UI {
	f := &p.pull
	sevs := []string{"", "critical", "high", "medium", "low"}
	opts := make([]app.UI, len(sevs))
	for i, s := range sevs {
		label := s
		if s == "" {
			label = "none"
		}
		opts[i] = app.Option().Value(s).Text(label).Selected(s == f.severity)
	}
	return app.Section().Class("access-section").Aria("label", "Pull policy").Body(
		app.H2().Text("Pull policy"),
		app.Div().Class("card").ID("pull-policy").Body(
			app.P().ID("pull-policy-summary").Text(pullSummary(f.policy)),
			app.P().Class("hint").Text("Checked on Berth's /v2 and the embedded registry's port; clients pulling from an external registry directly are not covered."),
		),
		app.If(p.session.Admin, func() app.UI {
			return app.Form().Class("card access-form").ID("pull-form").OnSubmit(p.setPull).Body(
				app.Div().Class("form-row").Body(
					app.Label().For("pull-severity").Text("Refuse findings at or above"),
					app.Select().ID("pull-severity").Class("filter").Body(opts...).OnChange(p.ValueTo(&f.severity)),
					app.Label().Class("check").Body(
						app.Input().Type("checkbox").ID("pull-signed").Checked(f.signed).OnChange(func(ctx app.Context, e app.Event) {
							f.signed = ctx.JSSrc().Get("checked").Bool()
						}),
						app.Text("Require a cosign signature"),
					),
				),
				app.Label().For("pull-keys").Text("Public keys (PEM, cosign.pub; empty: any signature)"),
				app.Textarea().ID("pull-keys").Rows(4).Text(f.keys).OnInput(p.ValueTo(&f.keys)),
				app.Button().Type("submit").Class("button").ID("pull-save").Text("Save pull policy"),
				formError(f.err),
			)
		}),
	)
}
