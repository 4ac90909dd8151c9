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
	home // its own context: answers to its events land though a render replaced their element

	Repo string

	keep, olderThan, include, exclude, keepTags string

	plan       *api.CleanupPlan
	planErr    string
	previewing bool
	st         jobStatus
	jobs       streams
	gen        int
}

func (c *cleanupPanel) OnMount(ctx app.Context) { c.home.mount(ctx) }

// OnDismount stops following the cleanup job; the job itself runs on.
func (c *cleanupPanel) OnDismount() { c.jobs.stop() }

func (c *cleanupPanel) rule() (api.CleanupRule, error) {
	r := api.CleanupRule{Repository: c.Repo, OlderThan: strings.TrimSpace(c.olderThan), Include: c.include, Exclude: c.exclude}
	if r.OlderThan != "" {
		if _, err := api.ParseDuration(r.OlderThan); err != nil {
			return r, fmt.Errorf("older than: want for example 30d or 12h")
		}
	}
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
	ctx = c.home.of(ctx)
	ctx.Async(func() {
		cx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		plan, err := apiClient().PreviewCleanup(cx, rule)
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
	ctx = c.home.of(ctx)
	start(ctx, c.jobs.context(), api.JobRequest{Kind: api.JobCleanup, Rule: &rule}, &c.st, func() bool { return gen == c.gen }, nil, func(ctx app.Context) {
		c.plan = nil
		ctx.NewAction(actionTagsChanged)
	})
}

func (c *cleanupPanel) field(id, label, placeholder string, value *string) app.UI {
	return app.Div().Class("field").Body(
		app.Label().For(id).Text(label),
		app.Input().Type("text").ID(id).Value(*value).Placeholder(placeholder).OnInput(c.ValueTo(value)),
	)
}

func (c *cleanupPanel) Render() app.UI {
	running := c.st.state == api.JobRunning
	return app.Details().Class("card cleanup").ID("cleanup-panel").Body(
		app.Summary().Text("Clean up tags…"),
		app.Form().Class("cleanup-form").OnSubmit(c.preview).Body(
			c.field("cleanup-keep", "Keep the newest", "10", &c.keep),
			c.field("cleanup-older", "Delete only older than", "30d", &c.olderThan),
			c.field("cleanup-include", "Tags matching (regexp)", "^v", &c.include),
			c.field("cleanup-exclude", "Never tags matching (regexp)", "^release-", &c.exclude),
			c.field("cleanup-keep-tags", "Always keep (comma-separated)", "latest, stable", &c.keepTags),
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
