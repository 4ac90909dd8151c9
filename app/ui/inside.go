package ui

import (
	"context"
	"fmt"
	"net/url"
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
	home // its own context: answers to its events land though a render replaced their element

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
	p.home.mount(ctx)
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
	ctx = p.home.of(ctx)
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
	ctx = p.home.of(ctx)
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
	ctx = p.home.of(ctx)
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
	ctx = p.home.of(ctx)
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
