package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// importSection is the repository page's "Import a tarball" panel; nothing in read-only mode.
func importSection(repo string) app.UI {
	if !writable() {
		return nil
	}
	return &importPanel{Repo: repo}
}

// importPanel uploads a docker save or OCI-layout archive into the repository: a file
// dropped on the panel or picked, an optional tag, the upload's progress, then the import
// job's, then the repository's tags reloaded with the new one.
type importPanel struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	Repo string

	open     bool
	over     bool // a file is dragged over the panel
	fileName string
	tag      string

	uploading   bool
	sent, total int64
	err         string
	st          jobStatus
	jobs        streams
	gen         int
}

func (p *importPanel) OnMount(ctx app.Context) { p.home.mount(ctx) }

// OnDismount stops the upload and following the job; a started job runs on.
func (p *importPanel) OnDismount() { p.jobs.stop() }

// picked records the chosen file's name, from the file input.
func (p *importPanel) picked(ctx app.Context, e app.Event) {
	p.fileName, p.err = "", ""
	if files := ctx.JSSrc().Get("files"); files.Truthy() && files.Get("length").Int() > 0 {
		p.fileName = files.Index(0).Get("name").String()
	}
}

func (p *importPanel) dragOver(ctx app.Context, e app.Event) {
	e.PreventDefault() // makes the panel a drop target
	p.over = true
}

func (p *importPanel) dragLeave(ctx app.Context, e app.Event) { p.over = false }

// drop hands the dropped file to the file input, so that a dropped file and a picked one
// are the same from there on.
func (p *importPanel) drop(ctx app.Context, e app.Event) {
	e.PreventDefault()
	p.over, p.open, p.err = false, true, ""
	files := e.Get("dataTransfer").Get("files")
	if !files.Truthy() || files.Get("length").Int() == 0 {
		return
	}
	ctx = p.home.of(ctx)
	ctx.Defer(func(ctx app.Context) { // once the opened panel's input is rendered
		if input := app.Window().GetElementByID("import-file"); input.Truthy() {
			input.Set("files", files)
			p.fileName = files.Index(0).Get("name").String()
		}
	})
}

func (p *importPanel) submit(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if p.uploading || p.st.state == api.JobRunning {
		return
	}
	archive, name, ok := client.FileInput("import-file")
	if !ok {
		p.err = "Choose a docker save or OCI-layout archive (.tar or .tar.gz) first."
		return
	}
	p.gen++
	gen, repo, tag := p.gen, p.Repo, strings.TrimSpace(p.tag)
	p.fileName, p.uploading, p.sent, p.total, p.err = name, true, 0, archive.Size(), ""
	p.st = jobStatus{}
	parent := p.jobs.context()
	alive := func() bool { return gen == p.gen }
	ctx = p.home.of(ctx)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(parent, 6*time.Hour)
		defer cancel()
		var shown int64 = -1
		id, err := apiClient().Import(c, repo, tag, archive, func(sent, total int64) {
			// A redraw per percent at most, and the last byte.
			if total > 0 && sent != total && (sent-shown)*100 < total {
				return
			}
			shown = sent
			ctx.Dispatch(func(ctx app.Context) {
				if alive() {
					p.sent, p.total = sent, total
				}
			})
		})
		ctx.Dispatch(func(ctx app.Context) {
			if !alive() {
				return
			}
			p.uploading = false
			if err != nil {
				p.err = importError(err)
				return
			}
			p.st.reset(id)
			follow(ctx, parent, id, &p.st, alive, func(ctx app.Context) {
				if p.st.state == api.JobSucceeded {
					ctx.NewAction(actionTagsChanged)
				}
			})
		})
	})
}

// importError says why an upload was refused, and what to do about it.
func importError(err error) string {
	var ae *api.Error
	if !errors.As(err, &ae) {
		return err.Error()
	}
	switch ae.Status {
	case http.StatusBadRequest:
		return "The archive was refused: " + ae.Message
	case http.StatusUnauthorized, http.StatusForbidden:
		return "You may not import into this repository: " + ae.Message + " Sign in with an account that may push here."
	case http.StatusRequestEntityTooLarge:
		return "The archive is too large: " + ae.Message
	case http.StatusUnsupportedMediaType:
		return "This is not an archive Berth imports: " + ae.Message
	}
	return ae.Message
}

func (p *importPanel) Render() app.UI {
	busy := p.uploading || p.st.state == api.JobRunning
	zone := "dropzone"
	if p.over {
		zone += " over"
	}
	return app.Details().Class("card import").ID("import-panel").Open(p.open).
		OnToggle(func(ctx app.Context, e app.Event) { p.open = ctx.JSSrc().Get("open").Bool() }).
		OnDragOver(p.dragOver).OnDragLeave(p.dragLeave).OnDrop(p.drop).Body(
		app.Summary().Text("Import a tarball…"),
		app.Form().Class("import-form").OnSubmit(p.submit).Body(
			app.Div().Class(zone).ID("import-drop").Body(
				app.P().Class("hint").Text("Drop a docker save or OCI-layout archive (.tar, or gzip-compressed) here, or choose it:"),
				// The browser's own file field would name the file a second time, unstyled: it
				// stays for the keyboard and screen readers, the label is its button.
				app.Div().Class("file-pick").Body(
					app.Input().Type("file").Class("file-input").ID("import-file").Accept(".tar,.tgz,.gz,application/x-tar,application/gzip").
						Aria("label", "Archive to import").Disabled(busy).OnChange(p.picked),
					app.Label().For("import-file").Class("button secondary file-button").Aria("hidden", "true").Text("Choose archive…"),
					app.If(p.fileName != "", func() app.UI {
						return app.Span().Class("mono break").ID("import-name").Text(p.fileName)
					}).Else(func() app.UI { return app.Span().Class("hint").ID("import-name").Text("No archive chosen") }),
				),
			),
			app.Div().Class("field").Body(
				app.Label().For("import-tag").Text("Tag (optional: empty keeps each image's tags from the archive)"),
				app.Input().Type("text").ID("import-tag").Class("mono").Placeholder("1.0").Value(p.tag).Disabled(busy).OnInput(p.ValueTo(&p.tag)),
			),
			app.Div().Class("dialog-actions").Body(
				app.Button().Type("submit").Class("button primary").ID("import-start").Disabled(busy).Text("Import"),
			),
		),
		app.If(p.uploading, func() app.UI {
			return app.Div().Class("job").ID("import-upload").Body(
				app.P().Role("status").Aria("live", "polite").Text(fmt.Sprintf("Uploading %s: %s of %s", p.fileName, humanSize(p.sent), humanSize(p.total))),
				app.Progress().Class("job-bar").Aria("label", "Upload progress").Max(max(p.total, 1)).Value(p.sent),
			)
		}),
		app.If(p.err != "", func() app.UI { return app.P().Class("error-message").ID("import-error").Role("alert").Text(p.err) }),
		app.If(p.st.state != "", func() app.UI { return jobView("import-job", &p.st, cancelJob(p.st.id)) }),
	)
}
