package ui

import (
	"slices"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

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
	// The destination: repository (the current one until changed) and tag, each checked
	// against distribution's grammar as typed.
	repo, tag string
	// Another registry to copy to, with credentials sent once with the job and kept nowhere.
	registry, username, password string
	st                           jobStatus
	jobs                         streams
	gen                          int
	// session carries the operator's allowlisted registries (--remote-registries): the
	// only ones offered.
	session api.Session
	// home is the panel's own context: the open button's is gone by the time the fields it
	// brings are there to focus, and a render may replace the submit button before the job's
	// answer comes.
	home
}

// OnDismount stops following the copy; the job runs on, and its id stays in localStorage.
func (c *copyPanel) OnDismount() { c.jobs.stop() }

func (c *copyPanel) storageKey() string { return "berth.copy-job." + c.Repo }

func (c *copyPanel) OnMount(ctx app.Context) {
	c.home.mount(ctx)
	ctx.ObserveState(stateSession, &c.session)
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
	follow(ctx, c.jobs.context(), id, &c.st, func() bool { return gen == c.gen }, nil)
}

// problems says what is wrong with the destination, field by field ("" when fine).
func (c *copyPanel) problems() (repo, tag string) {
	return api.RepositoryProblem(strings.TrimSpace(c.repo)), api.TagProblem(strings.TrimSpace(c.tag))
}

// onRepoInput takes the repository as typed; a pasted (or typed) repo:tag is split between the
// fields.
func (c *copyPanel) onRepoInput(ctx app.Context, e app.Event) {
	v := strings.TrimSpace(ctx.JSSrc().Get("value").String())
	if i := strings.LastIndex(v, ":"); i > strings.LastIndex(v, "/") && !strings.Contains(v, "@") {
		v, c.tag = v[:i], v[i+1:]
		ctx.JSSrc().Set("value", v)
		if f := app.Window().GetElementByID("dest-tag"); f.Truthy() {
			f.Set("value", c.tag)
			f.Call("focus") // typing on after the colon goes on in the tag
		}
	}
	c.repo = v
}

func (c *copyPanel) submit(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if r, t := c.problems(); r != "" || t != "" {
		return // said beside the fields; the button is disabled too
	}
	repo, tag := strings.TrimSpace(c.repo), strings.TrimSpace(c.tag)
	req := api.JobRequest{Kind: api.JobCopy, Source: joinReference(c.Repo, c.Ref), Destination: repo + ":" + tag}
	if reg := c.registry; reg != "" && slices.Contains(c.session.RemoteRegistries, reg) {
		req.DestinationRegistry, req.DestinationUsername, req.DestinationPassword = reg, strings.TrimSpace(c.username), c.password
	} else if repo == c.Repo {
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
	start(c.home.of(ctx), c.jobs.context(), req, &c.st, func() bool { return gen == c.gen }, func(ctx app.Context, id string) {
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
				if c.repo == "" {
					c.repo = c.Repo
				}
				c.home.of(ctx).Defer(func(ctx app.Context) { focusByID("dest-tag") })
			}),
		)
	}
	running := c.st.state == api.JobRunning
	repoProblem, tagProblem := c.problems()
	what := "Copies to the repository and tag named; in this repository it adds the tag (retag)."
	if strings.TrimSpace(c.repo) == c.Repo {
		what = "Same repository: adds the tag to this manifest (retag)."
	}
	return app.Div().Class("card copy-panel").ID("copy-panel").Body(
		app.H2().Text("Copy / retag"),
		app.Form().OnSubmit(c.submit).Body(
			app.Div().Class("copy-fields").Body(
				checkedField("dest-repo", "Repository", repoProblem, c.repo != "",
					app.Input().Type("text").ID("dest-repo").Class("mono").Value(c.repo).Placeholder("mirror/app").
						Required(true).Disabled(running).AutoComplete(false).OnInput(c.onRepoInput)),
				checkedField("dest-tag", "Tag", tagProblem, c.tag != "",
					app.Input().Type("text").ID("dest-tag").Class("mono").Value(c.tag).Placeholder("v1.0.0").
						Required(true).Disabled(running).AutoComplete(false).OnInput(c.ValueTo(&c.tag))),
			),
			app.P().Class("hint").ID("copy-what").Text(what),
			app.Div().Class("form-row").Body(
				app.Button().Type("submit").Class("button primary").ID("copy-start").Disabled(running || repoProblem != "" || tagProblem != "").Text("Start"),
				app.Button().Type("button").Class("button").Text("Close").OnClick(c.close),
			),
			c.remote(running),
		),
		app.If(c.st.state != "", func() app.UI {
			return jobView("copy-job", &c.st, cancelJob(c.st.id))
		}),
	)
}

// remote offers the registries the operator allows copies to (--remote-registries), with
// credentials for this copy only; none allowed, none offered.
func (c *copyPanel) remote(running bool) app.UI {
	if len(c.session.RemoteRegistries) == 0 {
		return nil
	}
	// Not value "": go-app leaves an empty value out, and the option's text becomes its value.
	opts := []app.UI{app.Option().Value("this").Text("This registry").Selected(!slices.Contains(c.session.RemoteRegistries, c.registry))}
	for _, r := range c.session.RemoteRegistries {
		opts = append(opts, app.Option().Value(r).Text(r).Selected(c.registry == r))
	}
	return app.Details().Class("copy-remote").Body(
		app.Summary().Text("To another registry…"),
		app.Label().For("copy-registry").Text("Registry (those the operator allows)"),
		app.Select().ID("copy-registry").Class("filter mono").Disabled(running).Body(opts...).
			OnChange(c.ValueTo(&c.registry)),
		app.Label().For("copy-username").Text("Username (optional)"),
		app.Input().ID("copy-username").Value(c.username).AutoComplete(false).Disabled(running).
			OnInput(c.ValueTo(&c.username)),
		app.Label().For("copy-password").Text("Password or token (sent with this copy only)"),
		app.Input().Type("password").ID("copy-password").Value(c.password).Disabled(running).
			OnInput(c.ValueTo(&c.password)),
	)
}

// checkedField is a labelled input with the reason its value is refused, once there is a value.
func checkedField(id, label, problem string, typed bool, input app.HTMLInput) app.UI {
	show := typed && problem != ""
	input = input.Aria("invalid", show).Aria("describedby", id+"-problem")
	return app.Div().Class("field").Body(
		app.Label().For(id).Text(label),
		input,
		app.P().Class("field-problem").ID(id+"-problem").Aria("live", "polite").Text(map[bool]string{true: problem, false: ""}[show]),
	)
}

// focusByID moves focus to the element with the id, if it is there.
func focusByID(id string) {
	if el := app.Window().GetElementByID(id); el.Truthy() {
		el.Call("focus")
	}
}

// joinReference makes repo:tag or repo@digest.
func joinReference(repo, ref string) string {
	if strings.HasPrefix(ref, "sha256:") {
		return repo + "@" + ref
	}
	return repo + ":" + ref
}

// copyBox shows text with a button that copies it; what names the text for screen readers.
func (p *manifestPage) copyBox(id, what, text string) app.UI {
	label := "Copy"
	if p.copied == id {
		label = "Copied ✓"
	}
	return app.Div().Class("copy").Body(
		app.Code().Class("break").Text(text),
		app.Button().Class("button small").ID("copy-"+id).DataSet("copy", text).Aria("label", "Copy "+what).Text(label).OnClick(func(ctx app.Context, e app.Event) {
			copyToClipboard(text)
			p.copied, p.announce = id, "Copied to the clipboard: "+text
			p.home.of(ctx).After(2*time.Second, func(ctx app.Context) {
				if p.copied == id {
					p.copied = ""
				}
			})
		}, app.EventScope(text)),
	)
}
