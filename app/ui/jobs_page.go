package ui

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

const (
	// jobsPoll is how often the list is asked again while one of its jobs runs.
	jobsPoll = 3 * time.Second
	// maxFollowed bounds the event streams the list keeps open: each holds a connection, and
	// a browser has six per server.
	maxFollowed = 3
)

// jobsPage lists the caller's jobs (an administrator's: everyone's, filtered by user and
// state), with live progress, cancel and links to what each touched; /jobs/{id} shows one.
type jobsPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	session api.Session
	user    string // observed, to load again after a sign-in
	query   api.JobQuery
	id      string // /jobs/{id}: the one job shown; "" for the list

	state loadState
	err   error
	list  api.JobList
	live  map[string]*jobStatus // running jobs followed through their event streams
	gen   int                   // bumped by every load; stale answers are dropped

	streams streams
	poller  int
	active  bool

	seed   *seed // on the server: the list, written into the prerendered page
	seeded bool  // in the browser: the list came with the page
}

// jobsURL is the UI path of the job list q selects.
func jobsURL(q api.JobQuery) string {
	if v := q.Values().Encode(); v != "" {
		return Path("/jobs?" + v)
	}
	return Path("/jobs")
}

// jobURL is the UI path of one job.
func jobURL(id string) string { return Path("/jobs/" + url.PathEscape(id)) }

// parseJobsURL reads the job id and filters from a page address.
func parseJobsURL(u *url.URL) (string, api.JobQuery) {
	id := strings.Trim(strings.TrimPrefix(u.Path, Path("/jobs")), "/")
	q := u.Query()
	return id, api.JobQuery{User: q.Get("user"), State: q.Get("state")}
}

// OnPreRender reads the list, or the one job, as the visitor on the server, so that the
// page arrives with it; an anonymous visitor under access control gets the invitation to
// sign in.
func (p *jobsPage) OnPreRender(ctx app.Context) {
	ctx.Page().SetTitle("Jobs · Berth")
	src, c, cancel, ok := prerendering(ctx)
	if !ok {
		return
	}
	defer cancel()
	p.id, p.query = parseJobsURL(ctx.Page().URL())
	p.session = src.Session(c)
	s := newSeed(ctx.Page().URL())
	s.Session = &p.session
	p.seed = s
	if p.anonymous() {
		return
	}
	if p.id != "" {
		j, err := src.Job(c, p.id)
		if api.ErrorCode(err) == api.CodeJobUnknown {
			p.state, p.err = failed, err
			markMissing(ctx)
		}
		if err != nil || s.put(jobPath(p.id), j) != nil {
			return
		}
		p.receive(p.one(j))
		return
	}
	list, err := src.Jobs(c, p.query)
	if err != nil || s.put(client.JobsPath(p.query), list) != nil {
		return // the browser loads it
	}
	p.receive(list)
}

// jobPath is the API path of one job.
func jobPath(id string) string { return "/api/v1/jobs/" + url.PathEscape(id) }

// one is the list of the one job the page shows.
func (p *jobsPage) one(j api.Job) api.JobList {
	return api.JobList{Jobs: []api.Job{j}, All: p.session.Admin}
}

// OnInit takes over what the server put into the page, so its rows stay.
func (p *jobsPage) OnInit() {
	s := takeSeed()
	if s == nil {
		return
	}
	p.id, p.query = parseJobsURL(app.Window().URL())
	if s.Session != nil {
		p.session = *s.Session
	}
	var list api.JobList
	var j api.Job
	switch {
	case p.id == "" && s.get(client.JobsPath(p.query), &list):
		p.seeded = true
		p.receive(list)
	case p.id != "" && s.get(jobPath(p.id), &j):
		p.seeded = true
		p.receive(p.one(j))
	}
}

func (p *jobsPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	sessionOf(ctx, &p.session, func(ctx app.Context) {})
	reloadOnSignIn(ctx, &p.user, func() bool { return p.state != loaded }, p.load)
}

func (p *jobsPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	ctx.Page().SetTitle("Jobs · Berth")
	p.id, p.query = parseJobsURL(ctx.Page().URL())
	p.active = true
	if p.seeded {
		p.seeded = false
		p.followRunning(ctx)
	} else {
		p.load(ctx)
	}
	p.poller++
	p.poll(ctx, p.poller)
}

func (p *jobsPage) OnDismount() {
	p.active = false
	p.streams.stop()
}

// anonymous reports whether nobody is signed in while access control keeps jobs private.
func (p *jobsPage) anonymous() bool { return p.session.AccessControl && p.session.User == "" }

// receive takes a list answer: jobs that ended drop their streams' status.
func (p *jobsPage) receive(list api.JobList) {
	p.list, p.state, p.err = list, loaded, nil
	if p.live == nil {
		p.live = map[string]*jobStatus{}
	}
	for id, st := range p.live {
		if j, ok := p.find(id); !ok || j.State != api.JobRunning && st.state == api.JobRunning {
			delete(p.live, id)
		}
	}
}

// find returns the listed job id.
func (p *jobsPage) find(id string) (api.Job, bool) {
	for _, j := range p.list.Jobs {
		if j.ID == id {
			return j, true
		}
	}
	return api.Job{}, false
}

// load asks for the list, or the one job.
func (p *jobsPage) load(ctx app.Context) {
	p.gen++
	gen := p.gen
	if p.state != loaded {
		p.state = loading
	}
	q, id, admin := p.query, p.id, p.session.Admin
	ctx = p.home.of(ctx)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var list api.JobList
		var err error
		if id == "" {
			list, err = apiClient().Jobs(c, q)
		} else {
			var j api.Job
			j, err = apiClient().Job(c, id)
			list = api.JobList{Jobs: []api.Job{j}, All: admin}
		}
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			if err != nil {
				p.state, p.err = failed, err
				return
			}
			p.receive(list)
			p.followRunning(ctx)
		})
	})
}

// poll loads the list again every jobsPoll while a job in it runs and the page is shown.
func (p *jobsPage) poll(ctx app.Context, id int) {
	ctx.After(jobsPoll, func(ctx app.Context) {
		if !p.active || id != p.poller {
			return
		}
		if p.running() {
			p.load(ctx)
		}
		p.poll(ctx, id)
	})
}

func (p *jobsPage) running() bool {
	for _, j := range p.list.Jobs {
		if j.State == api.JobRunning {
			return true
		}
	}
	return false
}

// followRunning opens the event streams of the shown running jobs not followed yet, the
// newest first, up to maxFollowed.
func (p *jobsPage) followRunning(ctx app.Context) {
	if p.live == nil {
		p.live = map[string]*jobStatus{}
	}
	for _, j := range p.shown() {
		if len(p.live) >= maxFollowed {
			return
		}
		if j.State != api.JobRunning || p.live[j.ID] != nil {
			continue
		}
		st := &jobStatus{}
		st.reset(j.ID)
		p.live[j.ID] = st
		follow(ctx, p.streams.context(), j.ID, st, func() bool { return p.active && p.live[st.id] == st },
			func(ctx app.Context) { p.load(ctx) })
	}
}

// shown are the jobs the page shows: the list, or the one job.
func (p *jobsPage) shown() []api.Job {
	if p.id == "" {
		return p.list.Jobs
	}
	if j, ok := p.find(p.id); ok {
		return []api.Job{j}
	}
	return nil
}

// cancel asks the server to cancel job id, then loads the list again.
func (p *jobsPage) cancel(id string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		ctx = p.home.of(ctx)
		ctx.Async(func() {
			c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err := apiClient().CancelJob(c, id)
			ctx.Dispatch(func(ctx app.Context) {
				if err != nil {
					if st := p.live[id]; st != nil {
						st.err = err.Error()
					}
				}
				p.load(ctx)
			})
		})
	}
}

// filter navigates to the list with the form's filters.
func (p *jobsPage) filter(ctx app.Context, e app.Event) {
	e.PreventDefault()
	doc := app.Window().Get("document")
	q := api.JobQuery{State: doc.Call("getElementById", "jobs-state").Get("value").String()}
	if u := doc.Call("getElementById", "jobs-user"); u.Truthy() {
		q.User = strings.TrimSpace(u.Get("value").String())
	}
	ctx.Navigate(jobsURL(q))
}
