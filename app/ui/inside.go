package ui

import (
	"context"
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

// Views of the inside page, its ?tab= values.
const (
	tabFiles  = "files"
	tabLayers = "layers"
	tabBuild  = "build"
	tabSupply = "supply"
)

// layerPage is how many entries of a layer one request asks for.
const layerPage = 500

// insidePage is "Look inside" an image: /inside/NAME:TAG or /inside/NAME@DIGEST. The query
// says what is shown, so every view is a link: tab (files, layers, build, supply), path (a
// directory of the merged filesystem), file (a file opened), layer (a layer's own entries,
// and where file is read from), q (a search), platform (an index's image).
type insidePage struct {
	app.Compo

	user string // signed-in user, observed to reload after a sign-in

	img      client.Image
	state    loadState
	err      error
	contents api.ImageContents
	stepOf   map[int]string // layer index → the build step that made it
	gen      int

	// Layers are indexed when first looked at: progress per layer (read, size) meanwhile.
	indexing bool
	progress map[int][2]int64
	indexErr error

	tab, dir, file, query string
	layer                 int // -1: none chosen

	tree     fetched[api.Tree]
	opened   fetched[api.FileContent]
	entries  fetched[api.LayerFiles]
	supply   fetched[api.SupplyChain]
	more     bool // a further page of the layer's entries is on its way
	pkgQuery string
	pkgView  []int // indexes into supply's packages matching pkgQuery
}

// fetched is one piece of data a page loads: its state, what it was loaded for (key), and
// a generation that makes late answers for an older key be dropped.
type fetched[T any] struct {
	state loadState
	key   string
	err   error
	v     T
	gen   int
}

// load fetches get's answer for key in the background, unless that is what f holds or is
// fetching already; done runs, in the UI goroutine, once the answer is in f.
func (f *fetched[T]) load(ctx app.Context, key string, get func(context.Context) (T, error), done func(ctx app.Context)) {
	if f.key == key && f.state != failed {
		return
	}
	f.gen++
	gen := f.gen
	f.key, f.state, f.err = key, loading, nil
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		v, err := get(c)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != f.gen {
				return
			}
			if err != nil {
				f.state, f.err = failed, err
			} else {
				f.state, f.v = loaded, v
			}
			if done != nil {
				done(ctx)
			}
		})
	})
}

// forget drops what f holds, and any answer still on its way.
func (f *fetched[T]) forget() {
	var zero T
	f.gen++
	f.key, f.state, f.err, f.v = "", loading, nil, zero
}

// insideURL is the UI path of an image's file browser; v holds the view (tab, path, file …).
func insideURL(img client.Image, v url.Values) string {
	if img.Platform != "" {
		v.Set("platform", img.Platform)
	}
	u := url.URL{Path: Path("/inside/" + img.String()), RawQuery: v.Encode()}
	return u.String()
}

// splitInside parses /inside/NAME:TAG or /inside/NAME@DIGEST.
func splitInside(p string) (repo, ref string) {
	rest := strings.Trim(strings.TrimPrefix(p, Path("/inside/")), "/")
	if r, err := url.PathUnescape(rest); err == nil {
		rest = r
	}
	return cutReference(rest)
}

func (p *insidePage) OnMount(ctx app.Context) {
	reloadOnSignIn(ctx, &p.user, func() bool { return p.state == failed }, p.load)
}

func (p *insidePage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	u := ctx.Page().URL()
	repo, ref := splitInside(u.Path)
	q := u.Query()
	p.tab, p.dir, p.file, p.query = q.Get("tab"), q.Get("path"), q.Get("file"), q.Get("q")
	if p.tab == "" {
		p.tab = tabFiles
	}
	if p.dir == "" {
		p.dir = "/"
	}
	p.layer = -1
	if n, err := strconv.Atoi(q.Get("layer")); err == nil && n >= 0 {
		p.layer = n
	}
	img := client.Image{Repository: repo, Reference: ref, Platform: q.Get("platform")}
	if img != p.img || p.state == failed {
		p.img = img
		ctx.Page().SetTitle("Inside %s · Berth", img.String())
		p.load(ctx)
		return
	}
	p.loadView(ctx)
}

// load fetches the image's description, then indexes what is not indexed yet.
func (p *insidePage) load(ctx app.Context) {
	p.gen++
	gen, img := p.gen, p.img
	p.state, p.err, p.indexErr = loading, nil, nil
	p.tree.forget()
	p.opened.forget()
	p.entries.forget()
	p.supply.forget()
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ic, err := apiClient().ImageContents(c, img)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			if err != nil {
				p.state, p.err = failed, err
				return
			}
			p.setContents(ic)
			p.state = loaded
			for _, l := range ic.Layers {
				if !l.Indexed {
					p.index(ctx)
					break
				}
			}
			p.loadView(ctx)
		})
	})
}

func (p *insidePage) setContents(ic api.ImageContents) {
	p.contents = ic
	p.stepOf = map[int]string{}
	for _, s := range ic.Steps {
		if s.Layer >= 0 {
			p.stepOf[s.Layer] = s.Instruction
		}
	}
}

// index follows the indexing stream: every layer is read once, the first time anyone looks
// inside it, which for a large layer takes a while.
func (p *insidePage) index(ctx app.Context) {
	gen, img := p.gen, p.img
	p.indexing, p.progress = true, map[int][2]int64{}
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		err := apiClient().IndexImage(c, img, func(e api.IndexEvent) {
			ctx.Dispatch(func(ctx app.Context) {
				if gen == p.gen {
					p.progress = foldIndexEvent(p.progress, e)
				}
			})
		})
		if err == nil {
			ic, cerr := apiClient().ImageContents(c, img) // now with entry and file counts
			ctx.Dispatch(func(ctx app.Context) {
				if gen == p.gen && cerr == nil {
					p.setContents(ic)
				}
			})
		}
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			p.indexing, p.indexErr = false, err
			if err == nil {
				p.loadView(ctx)
			}
		})
	})
}

// foldIndexEvent records one indexing event: bytes read of a layer, or a layer done.
func foldIndexEvent(progress map[int][2]int64, e api.IndexEvent) map[int][2]int64 {
	switch e.Type {
	case "progress":
		progress[e.Layer] = [2]int64{e.Read, e.Size}
	case "layer":
		progress[e.Layer] = [2]int64{e.Size, e.Size}
	}
	return progress
}

// loadView fetches what the view in the address needs and is not there yet.
func (p *insidePage) loadView(ctx app.Context) {
	if p.state != loaded {
		return
	}
	img := p.img
	if p.tab == tabSupply {
		p.supply.load(ctx, img.String()+img.Platform, func(c context.Context) (api.SupplyChain, error) {
			return apiClient().SupplyChain(c, img)
		}, func(ctx app.Context) { p.filterPackages() })
		return
	}
	if p.indexing || p.indexErr != nil {
		return // the tree and the layers' entries need every layer indexed
	}
	fileLayer := -1
	switch p.tab {
	case tabFiles:
		dir, query := p.dir, strings.TrimSpace(p.query)
		p.tree.load(ctx, dir+"\x00"+query, func(c context.Context) (api.Tree, error) {
			return apiClient().Tree(c, img, dir, query)
		}, nil)
	case tabLayers:
		if p.layer < 0 || p.layer >= len(p.contents.Layers) {
			p.entries.forget()
			p.opened.forget()
			return
		}
		fileLayer = p.layer
		digest, query := p.contents.Layers[p.layer].Digest, strings.TrimSpace(p.query)
		p.entries.load(ctx, digest+"\x00"+query, func(c context.Context) (api.LayerFiles, error) {
			return apiClient().LayerFiles(c, img, digest, query, 0, layerPage)
		}, nil)
	default:
		return
	}
	if p.file == "" {
		p.opened.forget()
		return
	}
	file := p.file
	p.opened.load(ctx, fmt.Sprint(fileLayer, file), func(c context.Context) (api.FileContent, error) {
		return apiClient().File(c, img, file, fileLayer)
	}, nil)
}

// moreEntries appends the next page of the layer's entries.
func (p *insidePage) moreEntries(ctx app.Context, e app.Event) {
	if p.more || p.entries.state != loaded {
		return
	}
	p.more = true
	img, have, gen := p.img, p.entries.v, p.entries.gen
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		next, err := apiClient().LayerFiles(c, img, have.Layer.Digest, have.Query, len(have.Entries), layerPage)
		ctx.Dispatch(func(ctx app.Context) {
			p.more = false
			if gen != p.entries.gen {
				return
			}
			if err != nil {
				p.entries.err = err
				return
			}
			p.entries.v.Entries = append(p.entries.v.Entries, next.Entries...)
		})
	})
}

// onSearch searches the merged filesystem, or filters the chosen layer's entries.
func (p *insidePage) onSearch(ctx app.Context, e app.Event) {
	p.ValueTo(&p.query)(ctx, e)
	u := *ctx.Page().URL()
	q := u.Query()
	if p.query == "" {
		q.Del("q")
	} else {
		q.Set("q", p.query)
	}
	q.Del("file")
	p.file = ""
	u.RawQuery = q.Encode()
	ctx.Page().ReplaceURL(&u)
	query := p.query
	ctx.After(searchDebounce, func(ctx app.Context) {
		if query == p.query {
			p.loadView(ctx)
		}
	})
}

// link is the address of another view of this image.
func (p *insidePage) link(tab string, kv ...string) string {
	v := url.Values{}
	if tab != tabFiles {
		v.Set("tab", tab)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	return insideURL(p.img, v)
}

func (p *insidePage) Render() app.UI {
	crumbs := []crumb{
		{label: "Repositories", href: Path("/")},
		{label: p.img.Repository, href: repositoryURL(p.img.Repository)},
		{label: refLabel(p.img.Reference), href: manifestURL(p.img.Repository, p.img.Reference)},
		{label: "Inside"},
	}
	return page(crumbs,
		app.Div().Class("page-head").Body(
			app.H1().Class("repo-title").Body(append(append([]app.UI{app.Span().Class("muted").Text("Inside ")}, repoName(p.img.Repository)...),
				app.Span().Class("ref").Text(refLabel(p.img.Reference)))...),
			app.If(p.contents.Platform != "", func() app.UI { return app.Span().Class("chip").Text(p.contents.Platform) }),
		),
		p.renderBody(),
	)
}

func (p *insidePage) renderBody() app.UI {
	switch p.state {
	case loading:
		return loadingView("image")
	case failed:
		return failure(p.err, p.load)
	}
	ic := p.contents
	out := []app.UI{
		app.Div().Class("card inside-summary").Body(app.Dl().Class("fields").Body(
			field("Image", app.A().Class("mono break").Href(manifestURL(p.img.Repository, ic.Digest)).Text(ic.Digest)),
			field("Size", app.Span().Text(fmt.Sprintf("%s in %s", humanSize(ic.Size), plural(len(ic.Layers), "layer")))),
			field("Compare", app.A().ID("inside-compare").Href(diffURL(client.DiffQuery{From: p.img.String(), Platform: p.img.Platform})).Text("Compare with another image…")),
		)),
	}
	if len(ic.Platforms) > 1 {
		out = append(out, p.platformTabs())
	}
	out = append(out, p.indexView(), p.viewTabs())
	switch p.tab {
	case tabLayers:
		out = append(out, p.layersView())
	case tabBuild:
		out = append(out, p.buildView())
	case tabSupply:
		out = append(out, p.supplyView())
	default:
		out = append(out, p.filesView())
	}
	return app.Div().ID("inside").Body(out...)
}

// platformTabs switches between the images of an index.
func (p *insidePage) platformTabs() app.UI {
	var tabs []app.UI
	for _, pl := range p.contents.Platforms {
		img := p.img
		img.Platform = pl
		selected := pl == p.contents.Platform
		cls, tabIndex := "tab", -1
		if selected {
			cls, tabIndex = "tab selected", 0
		}
		tabs = append(tabs, app.A().Class(cls).Href(insideURL(img, url.Values{"tab": {p.tab}})).Role("tab").
			Aria("selected", fmt.Sprint(selected)).TabIndex(tabIndex).OnKeyDown(tabKeys).Body(app.Span().Class("tab-name").Text(pl)))
	}
	return app.Div().Class("tabs").ID("inside-platforms").Role("tablist").Aria("label", "Platforms").Body(tabs...)
}

// viewTabs is the navigation between the page's views; each is a link.
func (p *insidePage) viewTabs() app.UI {
	item := func(tab, label string) app.UI {
		a := app.A().Class("view-tab").ID("view-" + tab).Href(p.link(tab)).Text(label)
		if p.tab == tab {
			a = a.Class("selected").Aria("current", "page")
		}
		return app.Li().Body(a)
	}
	return app.Nav().Class("view-tabs").Aria("label", "Views of the image").Body(app.Ul().Body(
		item(tabFiles, "Files"),
		item(tabLayers, fmt.Sprintf("Layers (%d)", len(p.contents.Layers))),
		item(tabBuild, "Dockerfile"),
		item(tabSupply, "Supply chain"),
	))
}

// indexView shows the indexing of layers not looked inside before, or why it failed.
func (p *insidePage) indexView() app.UI {
	if p.indexErr != nil {
		return app.Div().Class("card").Body(failure(p.indexErr, p.load))
	}
	if !p.indexing {
		return nil
	}
	var read, size int64
	done := 0
	for _, l := range p.contents.Layers {
		pr, ok := p.progress[l.Index]
		if l.Indexed || ok && pr[0] >= pr[1] && pr[1] > 0 {
			done++
			read += l.Size
			size += l.Size
			continue
		}
		read += pr[0]
		size += l.Size
	}
	return app.Div().Class("card index-progress").ID("index-progress").Body(
		app.P().Role("status").Aria("live", "polite").Text(fmt.Sprintf("Reading the layers for the first time: %d of %d indexed, %s of %s.",
			done, len(p.contents.Layers), humanSize(read), humanSize(size))),
		app.Progress().Class("job-bar").Aria("label", "Indexing progress").Max(max(size, 1)).Value(read),
	)
}

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
