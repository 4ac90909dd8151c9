package ui

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// actionDeleteOpen opens the delete dialog with a deleteRequest as its value; the repository
// page's rows, its bulk action and the manifest page send it.
const actionDeleteOpen = "berth.delete-open"

// deleteTarget is one tag to delete, with its digest and the other tags sharing it; a
// target without a tag is an untagged manifest.
type deleteTarget struct {
	Tag, Digest string
	Sharing     []string
}

// deleteRequest is what the delete dialog is opened for.
type deleteRequest struct {
	Repo    string
	Targets []deleteTarget
	// Opener is a CSS selector of the control that opened the dialog; focus returns there.
	Opener string
	// All says the targets are every tag of the repository: deleting their manifests
	// empties it, and frees what the repository stores that no other repository shares.
	All bool
	// Referrers are the signature/attestation tags that go along: with All every one of the
	// repository (either button), else those of the targets' manifests (their deletion only).
	Referrers []referrerRef
}

// maxEstimated is how many manifests the dialog asks one by one what their deletion frees;
// past that (and not the whole repository) it says nothing rather than ask hundreds of times.
const maxEstimated = 25

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

// openDelete opens the page's delete dialog.
func openDelete(ctx app.Context, req deleteRequest) {
	ctx.NewActionWithValue(actionDeleteOpen, req)
}

// deleteDialog is the one delete confirmation of a page: a modal <dialog> (showModal), named
// by its heading, closed by Escape, with Cancel focused first and focus returned to the
// control that opened it. It deletes the tags alone, or their manifests with every tag
// sharing them, and says what the manifests' deletion frees.
type deleteDialog struct {
	app.Compo
	home // its own context: a delete's outcome lands though a render replaced its button

	req   deleteRequest
	open  bool
	frees string // what deleting the manifests would free, once known
	st    jobStatus
	jobs  streams
	gen   int
	trap  app.Func // the native keydown listener that keeps Tab inside
}

func (d *deleteDialog) OnMount(ctx app.Context) {
	d.home.mount(ctx)
	if !app.IsServer {
		// Native and synchronous: preventDefault must happen while the key event is dispatched.
		d.trap = app.FuncOf(func(this app.Value, args []app.Value) any {
			if dialog := app.Window().Get("document").Call("getElementById", "delete-dialog"); dialog.Truthy() && dialog.Get("open").Bool() {
				trapTab(dialog, args[0])
			}
			return nil
		})
		app.Window().Get("document").Call("addEventListener", "keydown", d.trap)
	}
	ctx.Handle(actionDeleteOpen, func(ctx app.Context, a app.Action) {
		req, ok := a.Value.(deleteRequest)
		if !ok || len(req.Targets) == 0 || !writable() {
			return
		}
		d.gen++
		d.req, d.open, d.st, d.frees = req, true, jobStatus{}, ""
		d.estimate(ctx)
		ctx.Defer(func(ctx app.Context) {
			if el := app.Window().GetElementByID("delete-dialog"); el.Truthy() && !el.Get("open").Bool() {
				el.Call("showModal")
			}
		})
	})
}

// OnDismount stops following the delete job and listening to keys.
func (d *deleteDialog) OnDismount() {
	d.jobs.stop()
	if d.trap != nil {
		app.Window().Get("document").Call("removeEventListener", "keydown", d.trap)
		d.trap.Release()
		d.trap = nil
	}
}

// digests returns the distinct digests of the targets.
func (d *deleteDialog) digests() []string {
	var out []string
	for _, t := range d.req.Targets {
		if t.Digest != "" && !contains(out, t.Digest) {
			out = append(out, t.Digest)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// estimate asks the server what deleting the manifests would free (summed over them).
func (d *deleteDialog) estimate(ctx app.Context) {
	repo, digests, gen, all := d.req.Repo, d.digests(), d.gen, d.req.All
	if len(digests) == 0 || (!all && len(digests) > maxEstimated) {
		return
	}
	ctx.Async(func() {
		c, cancel := context.WithTimeout(d.jobs.context(), time.Minute)
		defer cancel()
		var frees int64
		if all {
			// Every tag goes: what the repository stores, each blob once.
			u, err := apiClient().Usage(c, repo, "")
			if err != nil {
				return
			}
			digests, frees = nil, u.Stored
		}
		for _, dg := range digests {
			u, err := apiClient().Usage(c, repo, dg)
			if err != nil {
				return
			}
			frees += u.Frees
		}
		ctx.Dispatch(func(ctx app.Context) {
			if gen == d.gen {
				d.frees = humanSize(frees)
			}
		})
	})
}

func (d *deleteDialog) start(refs []string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		d.gen++
		gen := d.gen
		req := api.JobRequest{Kind: api.JobDelete, Repository: d.req.Repo, References: refs}
		start(d.home.of(ctx), d.jobs.context(), req, &d.st, func() bool { return gen == d.gen }, nil, func(ctx app.Context) {
			if d.st.state == api.JobSucceeded {
				d.close(ctx)
				ctx.NewAction(actionTagsChanged)
			}
		})
	}
}

// close closes the dialog and returns focus to its opener.
func (d *deleteDialog) close(ctx app.Context) {
	if el := app.Window().GetElementByID("delete-dialog"); el.Truthy() && el.Get("open").Bool() {
		el.Call("close") // fires "close", which lands in onClose
		return
	}
	d.onClose(ctx, app.Event{})
}

// onClose runs when the dialog closed, by Escape, Cancel or a finished delete.
func (d *deleteDialog) onClose(ctx app.Context, e app.Event) {
	if !d.open {
		return
	}
	d.open = false
	d.gen++
	opener := d.req.Opener
	d.home.of(ctx).Defer(func(ctx app.Context) { // Cancel, when it closed the dialog, is gone by then
		if opener == "" {
			return
		}
		if el := app.Window().Get("document").Call("querySelector", opener); el.Truthy() {
			el.Call("focus")
		}
	})
}

func (d *deleteDialog) Render() app.UI {
	dialog := app.Dialog().Class("confirm").ID("delete-dialog").Aria("labelledby", "delete-title").On("close", d.onClose)
	if !d.open {
		return dialog
	}
	targets := d.req.Targets
	var tags, sharing []string
	for _, t := range targets {
		if t.Tag != "" {
			tags = append(tags, t.Tag)
		}
	}
	for _, t := range targets {
		for _, s := range t.Sharing {
			if !contains(tags, s) && !contains(sharing, s) {
				sharing = append(sharing, s)
			}
		}
	}
	title := "Delete " + d.req.Repo + ":" + targets[0].Tag + "?"
	if targets[0].Tag == "" {
		title = "Delete manifest " + shortDigest(targets[0].Digest) + " from " + d.req.Repo + "?"
	} else if d.req.All {
		title = fmt.Sprintf("Delete all %s of %s?", plural(len(targets), "tag"), d.req.Repo)
	} else if len(targets) > 1 {
		title = fmt.Sprintf("Delete %s from %s?", plural(len(targets), "tag"), d.req.Repo)
	}
	body := []app.UI{app.H2().ID("delete-title").Text(title)}
	if len(targets) > 1 {
		body = append(body, app.Ul().Class("sharing-tags").ID("delete-targets").Body(app.Range(targets).Slice(func(i int) app.UI {
			return app.Li().Class("mono").Text(targets[i].Tag)
		})))
	}
	digests := d.digests()
	if len(sharing) > 0 {
		body = append(body,
			app.P().Text("Deleting the manifests also removes these other tags:"),
			app.Ul().Class("sharing-tags").Body(app.Range(sharing).Slice(func(i int) app.UI {
				return app.Li().Class("mono").Text(sharing[i])
			})),
		)
	} else if len(targets) == 1 && len(tags) == 0 {
		body = append(body, app.P().Text("No tag points to the manifest "+targets[0].Digest+"; deleting it cannot be undone."))
	} else if len(targets) == 1 {
		body = append(body, app.P().Text("No other tag points to its manifest "+shortDigest(targets[0].Digest)+"."))
	}
	running := d.st.state == api.JobRunning
	refsTags, refsManifests := slices.Clone(tags), slices.Clone(digests)
	for _, r := range d.req.Referrers {
		if d.req.All {
			refsTags = append(refsTags, r.ref(false))
		}
		if m := r.ref(true); !slices.Contains(refsManifests, m) {
			refsManifests = append(refsManifests, m)
		}
	}
	body = append(body, d.referrersNote()...)
	// The notes sit in one container: a note arriving later (what deleting frees) must not shift
	// the buttons, which would take keyboard focus out of the dialog.
	body = append(body, app.Div().Class("dialog-notes").Body(
		app.P().Class("hint").Text("Removing tags keeps the manifests for other tags; deleting the manifests removes every tag pointing to them too. Space is freed by the registry's garbage collection."),
		app.If(d.req.All, func() app.UI {
			return app.P().ID("delete-all-note").Text("This empties the repository. The registry keeps listing it in the catalog until its garbage collection runs; untagged manifests, if any, are listed below the tags and deleted from there.")
		}),
		app.If(d.frees != "", func() app.UI {
			return app.P().ID("delete-frees").Text("Deleting the manifests frees up to " + d.frees + " once garbage collection runs: layers other tags here use stay, and so do layers other repositories share. Removing only the tags frees nothing.")
		}),
	))
	body = append(body,
		app.Div().Class("dialog-actions").Body(
			app.Button().Class("button").ID("delete-cancel").AutoFocus(true).Text("Cancel").OnClick(func(ctx app.Context, e app.Event) { d.close(ctx) }),
			app.If(len(tags) > 0, func() app.UI {
				return app.Button().Class("button secondary").ID("delete-tag-only").Disabled(running).
					Text(removeLabel(len(tags), len(refsTags)-len(tags))).
					OnClick(d.start(refsTags), app.EventScope(fmt.Sprint(refsTags)))
			}),
			app.If(len(digests) > 0, func() app.UI {
				label := fmt.Sprintf("Delete %s (%s)", plural(len(refsManifests), "manifest"), tagsPlus(len(tags)+len(sharing), len(d.req.Referrers)))
				if len(tags)+len(sharing)+len(d.req.Referrers) == 0 {
					label = "Delete " + plural(len(digests), "manifest")
				}
				return app.Button().Class("button danger").ID("delete-manifest").Disabled(running).
					Text(label).OnClick(d.start(refsManifests), app.EventScope(fmt.Sprint(refsManifests)))
			}),
		),
	)
	if d.st.state != "" {
		body = append(body, jobView("delete-job", &d.st, nil))
	}
	return dialog.Body(body...)
}

// tagsPlus counts tags, and referrer tags apart: "5 tags + 2".
func tagsPlus(tags, referrers int) string {
	if referrers == 0 {
		return plural(tags, "tag")
	}
	return fmt.Sprintf("%d + %s", tags, plural(referrers, "tag"))
}

// removeLabel names the button that removes tags and leaves their manifests.
func removeLabel(tags, referrers int) string {
	if tags == 1 && referrers == 0 {
		return "Remove tag only"
	}
	return "Remove " + tagsPlus(tags, referrers) + " only"
}

// referrersNote lists the signature/attestation tags that go along, and with which button.
func (d *deleteDialog) referrersNote() []app.UI {
	rs := d.req.Referrers
	if len(rs) == 0 {
		return nil
	}
	say := "Deleting the manifests also removes their signature/attestation tags; removing only the tags keeps them with the manifests:"
	if d.req.All {
		say = "Both ways, these signature/attestation tags go too:"
	}
	return []app.UI{
		app.P().ID("delete-referrers-note").Text(say),
		app.Ul().Class("sharing-tags").ID("delete-referrers").Body(app.Range(rs).Slice(func(i int) app.UI {
			subject, _, _ := api.ReferrerTag(rs[i].Tag)
			return app.Li().Title(rs[i].Tag).Body(
				app.Text(referrerTagLabel(rs[i].Tag)+" of "),
				app.Span().Class("mono").Text(shortDigest(subject)),
			)
		})),
	}
}

// deleteButton is a tag row's delete action; nothing in read-only mode.
func deleteButton(repo string, t api.Tag, sharing []string, referrers []referrerRef) app.UI {
	if !writable() {
		return nil
	}
	return app.Button().Class("button small danger delete-tag").DataSet("focus", "delete").Aria("label", "Delete "+t.Name).Text("Delete").
		OnClick(func(ctx app.Context, e app.Event) {
			openDelete(ctx, deleteRequest{
				Repo:      repo,
				Targets:   []deleteTarget{{Tag: t.Name, Digest: t.Digest, Sharing: sharing}},
				Referrers: referrers,
				Opener:    fmt.Sprintf(`[data-tag=%q] .delete-tag`, t.Name),
			})
		}, app.EventScope(repo, t.Name, t.Digest, fmt.Sprint(sharing, referrers)))
}

// trapTab keeps Tab and Shift+Tab inside a modal dialog: from its last control Tab goes to
// the first and back (a modal <dialog> alone lets focus leave for the browser's own UI).
func trapTab(dialog, e app.Value) {
	if e.Get("key").String() != "Tab" {
		return
	}
	all := dialog.Call("querySelectorAll", "button:not([disabled]), a[href], input:not([disabled]), select, textarea, [tabindex]:not([tabindex='-1'])")
	// Only controls on screen take focus: a hidden last one (in a closed <details>, say)
	// would let Tab from the last visible control leave the dialog.
	var controls []app.Value
	for i := range all.Length() {
		if c := all.Index(i); c.Call("getClientRects").Length() > 0 {
			controls = append(controls, c)
		}
	}
	if len(controls) == 0 {
		return
	}
	first, last := controls[0], controls[len(controls)-1]
	active := app.Window().Get("document").Get("activeElement")
	inside := dialog.Call("contains", active).Bool()
	switch {
	case e.Get("shiftKey").Bool() && (!inside || active.Equal(first) || active.Equal(dialog)):
		e.Call("preventDefault")
		last.Call("focus")
	case !e.Get("shiftKey").Bool() && (!inside || active.Equal(last)):
		e.Call("preventDefault")
		first.Call("focus")
	}
}
