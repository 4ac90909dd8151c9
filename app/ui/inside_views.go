package ui

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// filesView is the merged filesystem: a directory, or the paths matching a search.
func (p *insidePage) filesView() app.UI {
	out := []app.UI{p.searchBox("Search paths in the image…", "Search files by path")}
	if p.file != "" {
		out = append(out, p.fileView(-1))
	}
	if p.indexing {
		return app.Div().Body(out...)
	}
	t := p.tree
	var body app.UI
	switch t.state {
	case loading:
		body = loadingView("files")
	case failed:
		body = failure(t.err, func(ctx app.Context) { p.tree.forget(); p.loadView(ctx) })
	default:
		title := "Search results"
		if p.query == "" {
			title = "Directory " + t.v.Path
		}
		var rows []app.UI
		for _, e := range t.v.Entries {
			rows = append(rows, p.entryRow(e, p.query != "", -1))
		}
		body = app.Div().Body(
			app.If(p.query == "", func() app.UI { return p.crumbs(t.v.Path) }),
			app.If(len(rows) == 0, func() app.UI {
				if p.query != "" {
					return emptyView("No path matches", "Search by any part of a path, such as os-release or /usr/lib.")
				}
				return emptyView("Empty directory", "Nothing lives in "+t.v.Path+" in this image.")
			}),
			app.If(len(rows) > 0, func() app.UI { return entryTable(title, "tree", rows) }),
			app.If(t.v.Truncated, func() app.UI {
				return app.P().Class("hint").Text(fmt.Sprintf("Showing %d of %d entries; search to narrow them down.", len(t.v.Entries), t.v.Total))
			}),
		)
	}
	return app.Div().Body(append(out, app.Div().Class("card").Body(body))...)
}

func (p *insidePage) searchBox(placeholder, label string) app.UI {
	return app.Div().Class("toolbar").Body(
		app.Input().Type("search").Class("search").ID("inside-search").Placeholder(placeholder).Aria("label", label).
			Value(p.query).OnInput(p.onSearch),
	)
}

// crumbs are the directory's parents, each a link.
func (p *insidePage) crumbs(dir string) app.UI {
	parts := []app.UI{app.A().Class("mono").Href(p.link(tabFiles)).Text("/")}
	at := ""
	for _, name := range strings.Split(strings.Trim(dir, "/"), "/") {
		if name == "" {
			continue
		}
		at += "/" + name
		parts = append(parts, app.A().Class("mono").Href(p.link(tabFiles, "path", at)).Text(name+"/"))
	}
	return app.Nav().Class("path-crumbs").ID("path-crumbs").Aria("label", "Directory").Body(parts...)
}

// entryRow is one file: its name (a link into directories, a link opening files), type,
// size, mode, link target and the layer that wrote it. layer ≥ 0 shows one layer's entry.
func (p *insidePage) entryRow(e api.FileEntry, fullPath bool, layer int) app.UI {
	name := path.Base(e.Path)
	if fullPath || e.Path == "/" {
		name = e.Path
	}
	var nameCell app.UI = app.Span().Class("mono").Text(name)
	switch {
	case layer < 0 && e.Type == api.FileDir:
		nameCell = app.A().Class("mono").Href(p.link(tabFiles, "path", e.Path)).Text(name + "/")
	case layer < 0 && (e.Type == api.FileRegular || e.Type == api.FileSymlink || e.Type == api.FileHardlink):
		nameCell = app.A().Class("mono").Href(p.link(tabFiles, "path", path.Dir(e.Path), "file", e.Path)).Text(name)
	case layer >= 0 && (e.Type == api.FileRegular || e.Type == api.FileHardlink):
		nameCell = app.A().Class("mono").Href(p.link(tabLayers, "layer", strconv.Itoa(layer), "q", p.query, "file", e.Path)).Text(name)
	}
	typ := app.Td().Text(e.Type)
	switch e.Type {
	case api.FileWhiteout:
		typ = app.Td().Body(app.Span().Class("chip warn").Title("deletes this path from the layers below").Text("whiteout"))
	case api.FileOpaque:
		typ = app.Td().Body(app.Span().Class("chip warn").Title("hides what the layers below put in this directory").Text("opaque dir"))
	}
	size := ""
	if e.Type == api.FileRegular {
		size = humanSize(e.Size)
	} else if e.Type == api.FileDir && layer < 0 {
		size = entries(e.Children)
	}
	last := app.Td().Class("num").Body(app.A().Href(p.link(tabLayers, "layer", strconv.Itoa(e.Layer))).
		Title(p.stepOf[e.Layer]).Text(fmt.Sprint(e.Layer + 1)))
	if layer >= 0 {
		last = app.Td().Class("num muted").Text(fmt.Sprint(e.UID, ":", e.GID))
	}
	return app.Tr().DataSet("path", e.Path).DataSet("type", e.Type).Body(
		app.Td().Class("entry-name").Body(nameCell),
		typ,
		app.Td().Class("num").Text(size),
		app.Td().Class("mono").Text(modeString(e)),
		app.Td().Class("mono break").Text(e.Link),
		last,
	)
}

// entries counts entries in words.
func entries(n int) string {
	if n == 1 {
		return "1 entry"
	}
	return fmt.Sprintf("%d entries", n)
}

// entryTable is a table of entries; lastColumn names the last column's meaning.
func entryTable(caption, id string, rows []app.UI) app.UI {
	last := app.Th().Class("num").Text("Layer")
	if id == "layer-entries" {
		last = app.Th().Class("num").Text("Owner")
	}
	return scrollBox(caption).Body(app.Table().Class("grid entries").ID(id).Body(
		app.Caption().Class("sr-only").Text(caption),
		app.THead().Body(app.Tr().Body(
			app.Th().Text("Name"), app.Th().Text("Type"), app.Th().Class("num").Text("Size"),
			app.Th().Text("Mode"), app.Th().Text("Link target"), last,
		)),
		app.TBody().Body(rows...),
	))
}

// modeString renders an entry's type and permission bits the way ls -l does: drwxr-xr-x.
func modeString(e api.FileEntry) string {
	t := map[string]byte{api.FileDir: 'd', api.FileSymlink: 'l', api.FileChar: 'c', api.FileBlock: 'b', api.FileFifo: 'p', api.FileHardlink: 'h'}[e.Type]
	if t == 0 {
		t = '-'
	}
	if e.Type == api.FileWhiteout || e.Type == api.FileOpaque {
		return ""
	}
	b := []byte{t}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if e.Mode&(1<<(8-i)) != 0 {
			b = append(b, rwx[i])
		} else {
			b = append(b, '-')
		}
	}
	special := func(bit int64, at int, set, setNoExec byte) {
		if e.Mode&bit == 0 {
			return
		}
		if b[at] == '-' {
			b[at] = setNoExec
		} else {
			b[at] = set
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}

// fileView shows an opened file: its text, or a notice that it is binary, and a download.
func (p *insidePage) fileView(layer int) app.UI {
	o := p.opened
	closeHref := p.link(tabFiles, "path", p.dir, "q", p.query)
	if layer >= 0 {
		closeHref = p.link(tabLayers, "layer", strconv.Itoa(layer), "q", p.query)
	}
	head := app.Div().Class("file-head").Body(
		app.H2().Class("mono break").Text(p.file),
		app.A().Class("button small").ID("file-download").Href(apiClient().FileURL(p.img, p.file, layer)).Attr("download", path.Base(p.file)).
			Aria("label", "Download "+p.file).Text("Download"),
		app.A().Class("button small").Href(closeHref).Aria("label", "Close "+p.file).Text("Close"),
	)
	var body app.UI
	switch o.state {
	case loading:
		body = loadingView("file")
	case failed:
		body = app.P().Class("error-message").Role("alert").Text(o.err.Error())
	default:
		c := o.v
		var notes []app.UI
		if c.Resolved != "" && c.Resolved != c.Path {
			notes = append(notes, app.P().Class("hint").Body(app.Text("Link to "), app.Code().Text(c.Resolved)))
		}
		notes = append(notes, app.P().Class("hint").Text(fmt.Sprintf("%s · %s · written by layer %d", humanSize(c.Entry.Size), modeString(c.Entry), c.Entry.Layer+1)))
		switch {
		case c.Binary:
			notes = append(notes, app.P().Class("binary-notice").ID("file-binary").Text("This is a binary file: download it to look at it."))
		default:
			if c.Truncated {
				notes = append(notes, app.P().Class("hint").Text("Only the beginning of the file is shown; download it for the rest."))
			}
			notes = append(notes, app.Pre().Class("file-text mono").ID("file-text").TabIndex(0).Aria("label", "Contents of "+p.file).Text(c.Text))
		}
		body = app.Div().Body(notes...)
	}
	return app.Section().Class("card file-view").ID("file-view").Aria("label", "File "+p.file).Body(head, body)
}

// layersView lists the layers and, for the one chosen, every entry it holds.
func (p *insidePage) layersView() app.UI {
	var rows []app.UI
	for _, l := range p.contents.Layers {
		entries, files := "—", "—"
		if l.Indexed {
			entries, files = fmt.Sprint(l.Entries), fmt.Sprint(l.Files)
		}
		row := app.Tr().DataSet("layer", l.Index)
		link := app.A().Href(p.link(tabLayers, "layer", strconv.Itoa(l.Index))).Text(fmt.Sprintf("Layer %d", l.Index+1))
		if l.Index == p.layer {
			row = row.Class("selected")
			link = link.Aria("current", "true")
		}
		rows = append(rows, row.Body(
			app.Td().Body(link),
			app.Td().Class("mono").Title(l.Digest).Text(shortDigest(l.Digest)),
			app.Td().Class("num").Text(humanSize(l.Size)),
			app.Td().Class("num").Text(entries),
			app.Td().Class("num").Text(files),
			app.Td().Class("mono break createdby").Text(p.stepOf[l.Index]),
		))
	}
	out := []app.UI{app.Div().Class("card").Body(
		app.H2().Text("Layers"),
		scrollBox("Layers").Body(app.Table().Class("grid").ID("inside-layers").Body(
			app.THead().Body(app.Tr().Body(app.Th().Text("Layer"), app.Th().Text("Digest"), app.Th().Class("num").Text("Size"),
				app.Th().Class("num").Text("Entries"), app.Th().Class("num").Text("Files"), app.Th().Text("Made by"))),
			app.TBody().Body(rows...),
		)),
	)}
	if p.layer < 0 || p.layer >= len(p.contents.Layers) {
		return app.Div().Body(append(out, app.P().Class("hint").Text("Choose a layer to see every entry it holds, whiteouts and opaque directories included."))...)
	}
	out = append(out, p.searchBox("Filter this layer's paths…", "Filter the layer's entries by path"))
	if p.file != "" {
		out = append(out, p.fileView(p.layer))
	}
	if p.indexing {
		return app.Div().Body(out...)
	}
	e := p.entries
	var body app.UI
	switch e.state {
	case loading:
		body = loadingView("entries")
	case failed:
		body = failure(e.err, func(ctx app.Context) { p.entries.forget(); p.loadView(ctx) })
	default:
		var rows []app.UI
		for _, en := range e.v.Entries {
			rows = append(rows, p.entryRow(en, true, p.layer))
		}
		body = app.Div().Body(
			app.P().Class("hint").Text(fmt.Sprintf("Showing %d of %s.", len(e.v.Entries), entries(e.v.Total))),
			app.If(len(rows) > 0, func() app.UI { return entryTable(fmt.Sprintf("Entries of layer %d", p.layer+1), "layer-entries", rows) }),
			app.If(len(e.v.Entries) < e.v.Total, func() app.UI {
				return app.Button().Class("button").ID("layer-more").Disabled(p.more).Text("Show more").OnClick(p.moreEntries)
			}),
			app.If(e.v.Truncated, func() app.UI {
				return app.P().Class("hint").Text(fmt.Sprintf("The layer has more entries than Berth indexes: %d left out.", e.v.Skipped))
			}),
		)
	}
	return app.Div().Body(append(out, app.Div().Class("card").Body(app.H2().Text(fmt.Sprintf("Layer %d", p.layer+1)), body))...)
}

// buildView is the Dockerfile the history tells: each step, linked to the layer it made.
func (p *insidePage) buildView() app.UI {
	steps := p.contents.Steps
	if len(steps) == 0 {
		return emptyView("No build history", "The image's config records no build steps.")
	}
	now := time.Now()
	var rows []app.UI
	for i, s := range steps {
		layer := app.Td().Class("muted").Text("no layer")
		size, files := app.Td().Class("num"), app.Td().Class("num")
		if s.Layer >= 0 {
			layer = app.Td().Body(app.A().Href(p.link(tabLayers, "layer", strconv.Itoa(s.Layer))).Title(s.Digest).Text(fmt.Sprintf("Layer %d", s.Layer+1)))
			size = size.Text(humanSize(s.Size))
			if s.Files >= 0 {
				files = files.Text(plural(s.Files, "file"))
			} else {
				files = files.Class("muted").Text("not indexed")
			}
		}
		rows = append(rows, app.Tr().DataSet("step", i).Body(
			app.Td().Class("num").Text(fmt.Sprint(i+1)),
			app.Td().Body(app.Code().Class("break step").Title(s.CreatedBy).Text(s.Instruction)),
			layer, size, files,
			app.Td().Class("created").Title(s.Created.Format(time.RFC3339)).Text(ago(s.Created, now)),
		))
	}
	return app.Div().Class("card").Body(
		app.H2().Text(fmt.Sprintf("Dockerfile (%s)", plural(len(steps), "step"))),
		scrollBox("Build steps").Body(app.Table().Class("grid").ID("build-steps").Body(
			app.THead().Body(app.Tr().Body(app.Th().Class("num").Text("#"), app.Th().Text("Instruction"), app.Th().Text("Layer"),
				app.Th().Class("num").Text("Size"), app.Th().Class("num").Text("Files"), app.Th().Text("Created"))),
			app.TBody().Body(rows...),
		)),
	)
}

// insideLinks is the manifest page's way into an image: its files, its supply chain, a
// comparison. Nothing for artifacts, which have no filesystem.
func insideLinks(m api.Manifest) app.UI {
	if m.Kind != "image" && m.Kind != "index" {
		return nil
	}
	img := client.Image{Repository: m.Repository, Reference: m.Reference}
	return app.Nav().Class("inside-links").ID("inside-links").Aria("label", "Look inside").Body(
		app.A().Class("button").ID("inside-open").Href(insideURL(img, url.Values{})).Text("Browse files"),
		app.A().Class("button").Href(insideURL(img, url.Values{"tab": {tabBuild}})).Text("Dockerfile"),
		app.A().Class("button").ID("supply-open").Href(insideURL(img, url.Values{"tab": {tabSupply}})).Text("Supply chain"),
		app.A().Class("button").Href(diffURL(client.DiffQuery{From: img.String()})).Text("Compare…"),
	)
}
