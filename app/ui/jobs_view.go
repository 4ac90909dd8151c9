package ui

import (
	"net/url"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

func (p *jobsPage) Render() app.UI {
	crumbs := []crumb{{label: "Jobs"}}
	title := "Jobs"
	if p.id != "" {
		crumbs = []crumb{{label: "Jobs", href: Path("/jobs")}, {label: "Job " + p.id}}
		title = "Job " + p.id
	}
	return page(crumbs,
		app.Div().Class("page-head").Body(
			app.H1().Text(title),
			app.If(p.id == "" && p.state == loaded, func() app.UI {
				return app.Span().Class("count").Text(plural(len(p.list.Jobs), "job"))
			}),
		),
		p.renderBody(),
	)
}

func (p *jobsPage) renderBody() app.UI {
	switch {
	case app.Getenv(EnvMode) == ModeDirect:
		return emptyView("No jobs here", "This UI reads a registry directly; jobs run on a Berth server.")
	case p.anonymous() || p.state == failed && client.Unauthorized(p.err):
		return p.signInToSee()
	case p.state == failed && api.ErrorCode(p.err) == api.CodeJobUnknown:
		return notFoundView("No such job", p.err.Error())
	case p.state == failed:
		return errorView(p.err.Error(), func(ctx app.Context, e app.Event) { p.load(ctx) })
	case p.state != loaded:
		return loadingView("jobs")
	case p.id != "":
		return p.renderOne()
	}
	return app.Div().Body(p.renderFilters(), p.renderList())
}

// signInToSee invites an anonymous visitor to sign in, back to this address after.
func (p *jobsPage) signInToSee() app.UI {
	back := jobsURL(p.query)
	if p.id != "" {
		back = jobURL(p.id)
	}
	return app.Div().Class("state empty").ID("jobs-signin").Body(
		app.P().Class("empty-title").Text("Sign in to see your jobs"),
		app.P().Class("hint").Text("Jobs are the copies, deletes, cleanups and imports someone started; each user sees their own."),
		app.P().Body(app.A().Class("button").Href(Path("/signin")+"?return="+url.QueryEscape(back)).Text("Sign in")),
	)
}

// renderFilters is a plain GET form, so that it works before app.wasm runs too.
func (p *jobsPage) renderFilters() app.UI {
	states := []app.UI{}
	for _, s := range []struct{ value, label string }{{"", "All jobs"}, {api.JobsRunning, "Running"}, {api.JobsFinished, "Finished"}} {
		states = append(states, app.Option().Value(s.value).Text(s.label).Selected(p.query.State == s.value))
	}
	return app.Form().Class("toolbar jobs-filters").ID("jobs-filters").Action(Path("/jobs")).Method("get").OnSubmit(p.filter).Body(
		app.If(p.list.All, func() app.UI {
			return app.Input().Type("search").Class("search").ID("jobs-user").Name("user").Value(p.query.User).
				Placeholder("Every user").Aria("label", "User")
		}),
		app.Select().Class("filter").ID("jobs-state").Name("state").Aria("label", "State").Body(states...),
		app.Button().Type("submit").Class("button small").Text("Filter"),
	)
}

func (p *jobsPage) renderList() app.UI {
	if len(p.list.Jobs) == 0 {
		hint := "Copies, retags, deletes, cleanups and imports you start show here while they run and for a while after."
		if p.query != (api.JobQuery{}) {
			hint = "No job matches these filters."
		}
		return emptyView("No jobs", hint)
	}
	items := make([]app.UI, 0, len(p.list.Jobs))
	now := time.Now()
	for _, j := range p.list.Jobs {
		items = append(items, app.Li().Class("card job-card").DataSet("id", j.ID).DataSet("state", j.State).Body(p.renderJob(j, now, true)...))
	}
	return app.Ul().Class("job-list").ID("jobs").Body(items...)
}

func (p *jobsPage) renderOne() app.UI {
	j, ok := p.find(p.id)
	if !ok {
		return notFoundView("No such job", "There is no job "+p.id+" of yours; finished jobs are kept for a while (--jobs-retention), then removed.")
	}
	return app.Div().Class("card job-card").ID("job").DataSet("id", j.ID).DataSet("state", j.State).Body(p.renderJob(j, time.Now(), false)...)
}

// renderJob is one job: what it does and who started it, its progress or outcome, and
// links to what it touched.
func (p *jobsPage) renderJob(j api.Job, now time.Time, linked bool) []app.UI {
	title := app.UI(app.Span().Class("job-id").Text("#" + j.ID))
	if linked {
		title = app.A().Class("job-id").Href(jobURL(j.ID)).Aria("label", "Job "+j.ID).Text("#" + j.ID)
	}
	when := "started " + ago(j.Created, now)
	if !j.Ended.IsZero() {
		when += ", ended " + ago(j.Ended, now)
	}
	st := p.live[j.ID]
	if st == nil || j.State != api.JobRunning {
		st = &jobStatus{}
		st.reset(j.ID)
		st.applyJob(j)
	}
	var onCancel app.EventHandler
	if j.MayCancel && st.state == api.JobRunning {
		onCancel = p.cancel(j.ID)
	}
	return []app.UI{
		app.Div().Class("job-title").Body(
			title,
			app.Span().Class("chip kind").Text(j.Kind),
			app.Span().Class("job-summary").Text(j.Summary),
		),
		app.P().Class("hint job-when").Body(
			app.If(p.list.All, func() app.UI { return app.Text("by " + userLabel(j.User) + " · ") }),
			app.Span().Title(j.Created.Local().Format(time.RFC1123)).Text(when),
		),
		jobView("job-"+j.ID, st, onCancel),
		touchedLinks(j.Touches),
	}
}

func userLabel(u string) string {
	if u == "" {
		return "anonymous"
	}
	return u
}

// touchedLinks links the repositories and references a job works on.
func touchedLinks(refs []string) app.UI {
	if len(refs) == 0 {
		return nil
	}
	links := []app.UI{app.Span().Class("hint").Text("Touches ")}
	for i, r := range refs {
		if i > 0 {
			links = append(links, app.Text(" "))
		}
		href := repositoryURL(r) // repo, repo:tag and repo@digest all have a page there
		links = append(links, app.A().Class("mono touch").Href(href).Text(r))
	}
	return app.P().Class("job-touches").Body(links...)
}
