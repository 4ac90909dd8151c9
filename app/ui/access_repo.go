package ui

import (
	"context"
	"slices"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// repoAccess is the repository page's "who may do what": what the signed-in user (or an
// anonymous visitor) may do to the repository, as the server's policy says, and for the
// namespace's owners everyone holding a role in it. Nothing shows without access control.
type repoAccess struct {
	app.Compo

	Repo string

	session api.Session
	loaded  string // the repository the answer is for
	access  *api.RepositoryAccess
	gen     int
}

func (r *repoAccess) OnMount(ctx app.Context) {
	sessionOf(ctx, &r.session, r.load)
	r.load(ctx)
}

func (r *repoAccess) OnUpdate(ctx app.Context) { r.load(ctx) }

func (r *repoAccess) load(ctx app.Context) {
	if !r.session.AccessControl || app.IsServer {
		r.access = nil
		return
	}
	r.gen++
	gen, repo := r.gen, r.Repo
	callAccounts(ctx, func(c context.Context, a client.Accounts) (api.RepositoryAccess, error) { return a.Access(c, repo) },
		func(ctx app.Context, v api.RepositoryAccess, err error) {
			if gen != r.gen {
				return
			}
			r.access, r.loaded = nil, repo
			if err == nil {
				r.access = &v
			}
		})
}

// roleName names a set of actions after the role that grants them.
func roleName(actions []string) string {
	switch {
	case slices.Contains(actions, "manage"):
		return "owner"
	case slices.Contains(actions, "delete"):
		return "maintainer"
	case slices.Contains(actions, "push"):
		return "developer"
	case slices.Contains(actions, "pull"):
		return "viewer"
	}
	return ""
}

func (r *repoAccess) Render() app.UI {
	a := r.access
	if a == nil || r.loaded != r.Repo {
		return app.Span().Class("repo-access-none")
	}
	var who string
	switch {
	case r.session.User == "":
		who = "Anonymous visitors"
	case a.Admin:
		who = "You (administrator)"
	default:
		who = "You (" + roleName(a.Actions) + ")"
	}
	may := "may not read this repository"
	if len(a.Actions) > 0 {
		may = "may " + strings.Join(a.Actions, ", ")
	}
	var ns app.UI = app.Text("Outside any namespace: the operator's default access applies.")
	if a.Known {
		ns = app.Span().Body(
			app.Text("Namespace "),
			app.A().Href(namespaceURL(a.Namespace)).Text(a.Namespace+"/"),
			app.Text(map[bool]string{true: " is public: anyone may pull.", false: " is private."}[a.Public]),
		)
	}
	return app.Div().Class("card repo-access").ID("repo-access").Body(
		app.H2().Text("Who may do what"),
		app.P().ID("repo-access-own").Body(app.Strong().Text(who), app.Text(" "+may+". "), ns),
		app.If(len(a.Members) > 0, func() app.UI {
			items := make([]app.UI, len(a.Members))
			for i, m := range a.Members {
				via := ""
				if m.Via != "" {
					via = " (" + m.Via + ")"
				}
				items[i] = app.Li().DataSet("member", m.User).Body(app.Strong().Text(m.User), app.Text(" — "+m.Role+via))
			}
			return app.Details().Class("repo-members").Body(
				app.Summary().Text("Members of "+a.Namespace+"/ ("+plural(len(a.Members), "member")+")"),
				app.Ul().Class("plain").ID("repo-access-members").Body(items...),
			)
		}),
	)
}
