package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// others returns the names in tags other than name.
func others(tags []string, name string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if t != name {
			out = append(out, t)
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
	jobs  streams
	gen   int
}

// OnDismount stops following the delete job.
func (d *tagDelete) OnDismount() { d.jobs.stop() }

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
		u, err := apiClient().Usage(c, repo, digest)
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
		start(ctx, d.jobs.context(), req, &d.st, func() bool { return gen == d.gen }, nil, func(ctx app.Context) {
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
