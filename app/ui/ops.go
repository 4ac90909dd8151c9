package ui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// actionTagsChanged tells the repository page a job changed its tags, so it reloads them.
const actionTagsChanged = "berth.tags-changed"

// writable reports whether the UI may offer write operations (Berth is not --read-only).
func writable() bool { return app.Getenv(EnvReadOnly) != "true" }

// jobStatus is a job as the UI follows it, built from its events.
type jobStatus struct {
	id      string
	state   string
	phase   string
	message string
	err     string
	blobs   map[string][2]int64
	result  *api.JobResult
}

func (s *jobStatus) reset(id string) {
	*s = jobStatus{id: id, state: api.JobRunning, blobs: map[string][2]int64{}}
}

// apply folds one event of the stream into the status.
func (s *jobStatus) apply(e api.JobEvent) {
	switch e.Type {
	case api.EventPhase:
		s.phase, s.message = e.Phase, e.Message
	case api.EventMessage:
		s.message = e.Message
	case api.EventProgress:
		if s.blobs == nil {
			s.blobs = map[string][2]int64{}
		}
		s.blobs[e.Blob] = [2]int64{e.Done, e.Total}
	case api.EventResult, api.EventError:
		s.state, s.err, s.result = e.State, e.Error, e.Result
	}
}

// applyJob takes a polled job's state, when the stream is not available.
func (s *jobStatus) applyJob(j api.Job) {
	s.state, s.err, s.result = j.State, j.Error, j.Result
	s.blobs = map[string][2]int64{"all": {j.Done, j.Total}}
}

func (s *jobStatus) bytes() (done, total int64) {
	for _, b := range s.blobs {
		done += b[0]
		total += b[1]
	}
	return done, total
}

// follow reads job id's event stream into *st until the job ends; where the stream cannot be
// read, it polls the job every 500 ms instead. alive says whether the component still shows
// that job.
// start starts the job req and follows its events into st. alive says whether the answer
// still matters (the component has not started something else since); started, when set,
// runs once the job has an id, and ended when it ends.
func start(ctx app.Context, req api.JobRequest, st *jobStatus, alive func() bool, started func(ctx app.Context, id string), ended func(ctx app.Context)) {
	st.reset("")
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		id, err := client().StartJob(c, req)
		ctx.Dispatch(func(ctx app.Context) {
			if !alive() {
				return
			}
			if err != nil {
				st.state, st.err = api.JobFailed, err.Error()
				return
			}
			st.id = id
			if started != nil {
				started(ctx, id)
			}
			follow(ctx, id, st, alive, ended)
		})
	})
}

func follow(ctx app.Context, id string, st *jobStatus, alive func() bool, ended func(ctx app.Context)) {
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 6*time.Hour)
		defer cancel()
		last, err := client().FollowJob(c, id, func(e api.JobEvent) {
			ctx.Dispatch(func(ctx app.Context) {
				if alive() {
					st.apply(e)
				}
			})
		})
		if err == nil {
			ctx.Dispatch(func(ctx app.Context) {
				if alive() && last.Final() && ended != nil {
					ended(ctx)
				}
			})
			return
		}
		for {
			j, err := client().Job(c, id)
			done := err != nil || j.State != api.JobRunning
			ctx.Dispatch(func(ctx app.Context) {
				if !alive() {
					return
				}
				if err != nil {
					st.state, st.err = api.JobFailed, err.Error()
				} else {
					st.applyJob(j)
				}
				if done && ended != nil {
					ended(ctx)
				}
			})
			if done {
				return
			}
			select {
			case <-c.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
}

// jobView shows a job's progress bar, phase and outcome.
func jobView(id string, st *jobStatus, onCancel app.EventHandler) app.UI {
	done, total := st.bytes()
	label := st.state
	if st.state == api.JobRunning && st.phase != "" {
		label = "running: " + st.phase
	}
	return app.Div().Class("job").ID(id).DataSet("state", st.state).Body(
		app.Div().Class("job-head").Body(
			app.Span().Class("job-state chip "+st.state).Text(label),
			app.If(total > 0, func() app.UI {
				return app.Span().Class("job-bytes muted").Text(humanSize(done) + " of " + humanSize(total))
			}),
			app.If(st.state == api.JobRunning && onCancel != nil, func() app.UI {
				return app.Button().Class("button small").Text("Cancel").OnClick(onCancel)
			}),
		),
		app.If(st.state == api.JobRunning, func() app.UI {
			if total == 0 {
				return app.Progress().Class("job-bar")
			}
			return app.Progress().Class("job-bar").Max(total).Value(done)
		}),
		app.If(st.message != "" && st.state == api.JobRunning, func() app.UI {
			return app.P().Class("hint job-message").Text(st.message)
		}),
		app.If(st.err != "", func() app.UI {
			return app.P().Class("error-message").Role("alert").Text(st.err)
		}),
		app.If(st.result != nil && st.state == api.JobSucceeded, func() app.UI {
			return app.P().Class("hint job-result").Text(resultLabel(st.result))
		}),
	)
}

func resultLabel(r *api.JobResult) string {
	switch {
	case r.Destination != "":
		return fmt.Sprintf("Wrote %s (%s): %s, %s.", r.Destination, shortDigest(r.Digest), plural(r.Manifests, "manifest"), plural(r.Blobs, "blob"))
	case len(r.Deleted) > 0:
		return "Deleted " + strings.Join(r.Deleted, ", ") + "."
	}
	return "Nothing to do."
}

func cancelJob(id string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		ctx.Async(func() {
			c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = client().CancelJob(c, id)
		})
	}
}

// sharingTags returns the other tags pointing to t's digest; group is t's digest group
// (0 when no other tag shares it).
func sharingTags(all []api.Tag, t api.Tag, group int) []string {
	if group == 0 || t.Digest == "" {
		return nil
	}
	var out []string
	for _, o := range all {
		if o.Digest == t.Digest && o.Name != t.Name {
			out = append(out, o.Name)
		}
	}
	return out
}

// deleteButton is a tag row's delete action; nothing in read-only mode.
func deleteButton(repo string, t api.Tag, sharing []string) app.UI {
	if !writable() {
		return nil
	}
	return &tagDelete{Repo: repo, Tag: t.Name, Digest: t.Digest, Sharing: strings.Join(sharing, ",")}
}

// tagDelete is a tag's delete button with its confirmation dialog: the tag alone, or the
// manifest with every tag sharing it.
type tagDelete struct {
	app.Compo

	Repo, Tag, Digest string
	// Sharing lists, comma-separated, the other tags pointing to Digest.
	Sharing string

	open  bool
	frees string // what deleting the manifest would free, once known
	st    jobStatus
	gen   int
}

// estimate asks the server what deleting the manifest would free.
func (d *tagDelete) estimate(ctx app.Context) {
	repo, digest, gen := d.Repo, d.Digest, d.gen
	d.frees = ""
	if digest == "" {
		return
	}
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		u, err := client().Usage(c, repo, digest)
		if err != nil {
			return
		}
		ctx.Dispatch(func(ctx app.Context) {
			if gen == d.gen {
				d.frees = humanSize(u.Frees)
			}
		})
	})
}

func (d *tagDelete) start(ref string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		d.gen++
		gen := d.gen
		req := api.JobRequest{Kind: api.JobDelete, Repository: d.Repo, References: []string{ref}}
		start(ctx, req, &d.st, func() bool { return gen == d.gen }, nil, func(ctx app.Context) {
			if d.st.state == api.JobSucceeded {
				d.open = false
				ctx.NewAction(actionTagsChanged)
			}
		})
	}
}

func (d *tagDelete) Render() app.UI {
	var sharing []string
	if d.Sharing != "" {
		sharing = strings.Split(d.Sharing, ",")
	}
	button := app.Button().Class("button small danger delete-tag").Title("Delete " + d.Tag).Text("Delete").
		OnClick(func(ctx app.Context, e app.Event) {
			d.open, d.st = true, jobStatus{}
			d.estimate(ctx)
		})
	if !d.open {
		return app.Span().Body(button)
	}
	body := []app.UI{
		app.H2().Text("Delete " + d.Repo + ":" + d.Tag + "?"),
	}
	if len(sharing) > 0 {
		body = append(body,
			app.P().Text("Its manifest "+shortDigest(d.Digest)+" is also tagged:"),
			app.Ul().Class("sharing-tags").Body(app.Range(sharing).Slice(func(i int) app.UI {
				return app.Li().Class("mono").Text(sharing[i])
			})),
		)
	} else {
		body = append(body, app.P().Text("No other tag points to its manifest "+shortDigest(d.Digest)+"."))
	}
	running := d.st.state == api.JobRunning
	body = append(body,
		app.P().Class("hint").Text("Removing the tag keeps the manifest for other tags; deleting the manifest removes every tag above too. Space is freed by the registry's garbage collection."),
		app.If(d.frees != "", func() app.UI {
			return app.P().ID("delete-frees").Text("Deleting the manifest frees up to " + d.frees + " once garbage collection runs: layers other tags here use stay, and so do layers other repositories share. Removing only the tag frees nothing.")
		}),
		app.Div().Class("dialog-actions").Body(
			app.Button().Class("button danger").ID("delete-tag-only").Disabled(running).Text("Remove tag only").OnClick(d.start(d.Tag)),
			app.If(d.Digest != "", func() app.UI {
				return app.Button().Class("button danger").ID("delete-manifest").Disabled(running).
					Text(fmt.Sprintf("Delete manifest (%s)", plural(len(sharing)+1, "tag"))).OnClick(d.start(d.Digest))
			}),
			app.Button().Class("button").Text("Cancel").OnClick(func(ctx app.Context, e app.Event) { d.open = false; d.gen++ }),
		),
	)
	if d.st.state != "" {
		body = append(body, jobView("delete-job", &d.st, nil))
	}
	return app.Span().Body(button, app.Dialog().Class("confirm").Open(true).ID("delete-dialog").Body(body...))
}

// copySection is the manifest page's "Copy / retag" panel; nothing in read-only mode.
func copySection(repo, ref string) app.UI {
	if !writable() {
		return nil
	}
	return &copyPanel{Repo: repo, Ref: ref}
}

// copyPanel copies or retags the manifest shown to repo:tag, showing the job's progress.
// The job id is kept in localStorage, so a reload reconnects to a running copy.
type copyPanel struct {
	app.Compo

	Repo, Ref string

	open bool
	dest string
	// Another registry to copy to, with credentials sent once with the job and kept nowhere.
	registry, username, password string
	st                           jobStatus
	gen                          int
}

func (c *copyPanel) storageKey() string { return "berth.copy-job." + c.Repo }

func (c *copyPanel) OnMount(ctx app.Context) {
	var id string
	if err := ctx.LocalStorage().Get(c.storageKey(), &id); err != nil || id == "" {
		return
	}
	c.open = true
	c.watch(ctx, id)
}

func (c *copyPanel) watch(ctx app.Context, id string) {
	c.gen++
	gen := c.gen
	c.st.reset(id)
	follow(ctx, id, &c.st, func() bool { return gen == c.gen }, nil)
}

func (c *copyPanel) submit(ctx app.Context, e app.Event) {
	e.PreventDefault()
	dest := strings.TrimSpace(c.dest)
	req := api.JobRequest{Kind: api.JobCopy, Source: joinReference(c.Repo, c.Ref), Destination: dest}
	if reg := strings.TrimRight(strings.TrimSpace(c.registry), "/"); reg != "" {
		req.DestinationRegistry, req.DestinationUsername, req.DestinationPassword = reg, strings.TrimSpace(c.username), c.password
	} else if repo, tag, ok := strings.Cut(dest, ":"); ok && repo == c.Repo && !strings.Contains(tag, "/") {
		req = api.JobRequest{Kind: api.JobRetag, Repository: c.Repo, Source: c.Ref, Destination: tag}
	}
	// Sent once; kept neither in the component nor in the field the user typed it into.
	c.password = ""
	if f := app.Window().GetElementByID("copy-password"); f.Truthy() {
		f.Set("value", "")
	}
	c.gen++
	gen := c.gen
	key := c.storageKey()
	// The job id is kept so that a reload reconnects to the running copy.
	start(ctx, req, &c.st, func() bool { return gen == c.gen }, func(ctx app.Context, id string) {
		_ = ctx.LocalStorage().Set(key, id)
	}, nil)
}

func (c *copyPanel) close(ctx app.Context, e app.Event) {
	c.open = false
	c.gen++
	c.st = jobStatus{}
	ctx.LocalStorage().Del(c.storageKey())
}

func (c *copyPanel) Render() app.UI {
	if !c.open {
		return app.Div().Class("ops-bar").Body(
			app.Button().Class("button").ID("copy-open").Text("Copy / retag…").OnClick(func(ctx app.Context, e app.Event) {
				c.open = true
				if c.dest == "" {
					c.dest = c.Repo + ":"
				}
			}),
		)
	}
	running := c.st.state == api.JobRunning
	return app.Div().Class("card copy-panel").ID("copy-panel").Body(
		app.H2().Text("Copy / retag"),
		app.Form().OnSubmit(c.submit).Body(
			app.Label().For("copy-dest").Text("Destination (repository:tag — the same repository retags)"),
			app.Div().Class("form-row").Body(
				app.Input().Type("text").ID("copy-dest").Class("mono").Value(c.dest).Placeholder("mirror/app:v1").
					Required(true).Disabled(running).
					OnInput(func(ctx app.Context, e app.Event) { c.dest = ctx.JSSrc().Get("value").String() }),
				app.Button().Type("submit").Class("button primary").ID("copy-start").Disabled(running).Text("Start"),
				app.Button().Type("button").Class("button").Text("Close").OnClick(c.close),
			),
			app.Details().Class("copy-remote").Body(
				app.Summary().Text("To another registry…"),
				app.Label().For("copy-registry").Text("Registry URL (empty: this registry)"),
				app.Input().Type("url").ID("copy-registry").Class("mono").Value(c.registry).Placeholder("https://registry.example.com").Disabled(running).
					OnInput(func(ctx app.Context, e app.Event) { c.registry = ctx.JSSrc().Get("value").String() }),
				app.Label().For("copy-username").Text("Username (optional)"),
				app.Input().ID("copy-username").Value(c.username).AutoComplete(false).Disabled(running).
					OnInput(func(ctx app.Context, e app.Event) { c.username = ctx.JSSrc().Get("value").String() }),
				app.Label().For("copy-password").Text("Password or token (sent with this copy only)"),
				app.Input().Type("password").ID("copy-password").Value(c.password).Disabled(running).
					OnInput(func(ctx app.Context, e app.Event) { c.password = ctx.JSSrc().Get("value").String() }),
			),
		),
		app.If(c.st.state != "", func() app.UI {
			return jobView("copy-job", &c.st, cancelJob(c.st.id))
		}),
	)
}

// joinReference makes repo:tag or repo@digest.
func joinReference(repo, ref string) string {
	if strings.HasPrefix(ref, "sha256:") {
		return repo + "@" + ref
	}
	return repo + ":" + ref
}

// cleanupSection is the repository page's cleanup panel; nothing in read-only mode.
func cleanupSection(repo string) app.UI {
	if !writable() {
		return nil
	}
	return &cleanupPanel{Repo: repo}
}

// cleanupPanel runs a retention rule on a repository: rule form → preview list → run.
type cleanupPanel struct {
	app.Compo

	Repo string

	keep, olderThan, include, exclude, keepTags string

	plan       *api.CleanupPlan
	planErr    string
	previewing bool
	st         jobStatus
	gen        int
}

func (c *cleanupPanel) rule() (api.CleanupRule, error) {
	r := api.CleanupRule{Repository: c.Repo, OlderThan: strings.TrimSpace(c.olderThan), Include: c.include, Exclude: c.exclude}
	if k := strings.TrimSpace(c.keep); k != "" {
		n, err := strconv.Atoi(k)
		if err != nil || n < 0 {
			return r, fmt.Errorf("keep last: want a number of tags")
		}
		r.KeepLast = n
	}
	for _, t := range strings.Split(c.keepTags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			r.Keep = append(r.Keep, t)
		}
	}
	return r, nil
}

func (c *cleanupPanel) preview(ctx app.Context, e app.Event) {
	e.PreventDefault()
	rule, err := c.rule()
	if err != nil {
		c.planErr = err.Error()
		return
	}
	c.gen++
	gen := c.gen
	c.previewing, c.plan, c.planErr, c.st = true, nil, "", jobStatus{}
	ctx.Async(func() {
		cx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		plan, err := client().PreviewCleanup(cx, rule)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != c.gen {
				return
			}
			c.previewing = false
			if err != nil {
				c.planErr = err.Error()
				return
			}
			c.plan = &plan
		})
	})
}

func (c *cleanupPanel) run(ctx app.Context, e app.Event) {
	rule, err := c.rule()
	if err != nil {
		c.planErr = err.Error()
		return
	}
	c.gen++
	gen := c.gen
	start(ctx, api.JobRequest{Kind: api.JobCleanup, Rule: &rule}, &c.st, func() bool { return gen == c.gen }, nil, func(ctx app.Context) {
		c.plan = nil
		ctx.NewAction(actionTagsChanged)
	})
}

func (c *cleanupPanel) field(id, label, value, placeholder string, set func(string)) app.UI {
	return app.Div().Class("field").Body(
		app.Label().For(id).Text(label),
		app.Input().Type("text").ID(id).Value(value).Placeholder(placeholder).
			OnInput(func(ctx app.Context, e app.Event) { set(ctx.JSSrc().Get("value").String()) }),
	)
}

func (c *cleanupPanel) Render() app.UI {
	running := c.st.state == api.JobRunning
	return app.Details().Class("card cleanup").ID("cleanup-panel").Body(
		app.Summary().Text("Clean up tags…"),
		app.Form().Class("cleanup-form").OnSubmit(c.preview).Body(
			c.field("cleanup-keep", "Keep the newest", c.keep, "10", func(v string) { c.keep = v }),
			c.field("cleanup-older", "Delete only older than", c.olderThan, "30d", func(v string) { c.olderThan = v }),
			c.field("cleanup-include", "Tags matching (regexp)", c.include, "^v", func(v string) { c.include = v }),
			c.field("cleanup-exclude", "Never tags matching (regexp)", c.exclude, "^release-", func(v string) { c.exclude = v }),
			c.field("cleanup-keep-tags", "Always keep (comma-separated)", c.keepTags, "latest, stable", func(v string) { c.keepTags = v }),
			app.Div().Class("dialog-actions").Body(
				app.Button().Type("submit").Class("button").ID("cleanup-preview").Disabled(c.previewing || running).Text("Preview"),
			),
		),
		app.If(c.planErr != "", func() app.UI {
			return app.P().Class("error-message").Role("alert").Text(c.planErr)
		}),
		app.If(c.plan != nil, func() app.UI { return c.renderPlan(running) }),
		app.If(c.st.state != "", func() app.UI {
			return jobView("cleanup-job", &c.st, cancelJob(c.st.id))
		}),
	)
}

func (c *cleanupPanel) renderPlan(running bool) app.UI {
	p := c.plan
	if len(p.Delete) == 0 {
		return app.P().Class("hint").ID("cleanup-plan").Text(fmt.Sprintf("The rule deletes nothing; it keeps all %s.", plural(p.Kept, "tag")))
	}
	now := time.Now()
	return app.Div().ID("cleanup-plan").Body(
		app.P().Text(fmt.Sprintf("The rule deletes %s and keeps %d:", plural(len(p.Delete), "tag"), p.Kept)),
		app.Ul().Class("plan").Body(app.Range(p.Delete).Slice(func(i int) app.UI {
			it := p.Delete[i]
			what := "tag only"
			if it.Manifest {
				what = "manifest"
			}
			return app.Li().DataSet("tag", it.Tag).Body(
				app.Span().Class("mono").Text(it.Tag),
				app.Span().Class("muted").Text(" · "+shortDigest(it.Digest)+" · "+ago(it.Created, now)+" · "+what),
			)
		})),
		app.Button().Class("button danger").ID("cleanup-run").Disabled(running).
			Text("Delete "+plural(len(p.Delete), "tag")).OnClick(c.run),
	)
}
