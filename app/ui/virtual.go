package ui

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// window tracks which rows of a long list with fixed-height rows are visible in its scrolling
// container, so only those (plus a margin) are in the DOM: a list of 100,000 repositories
// costs as much to render as one of 50.
type window struct {
	rowHeight int
	scrollTop int
	height    int
}

// overscan is how many rows beyond the visible ones are rendered, so fast scrolling does not
// show blanks.
const overscan = 15

// span returns the half-open range [first, last) of rows to render out of total.
func (w window) span(total int) (first, last int) {
	h := w.height
	if h <= 0 {
		h = 900 // before the first scroll event: enough for a tall screen
	}
	if w.rowHeight <= 0 {
		w.rowHeight = 40
	}
	if w.height <= 0 && app.IsServer {
		// A page the server renders carries its first screen only: the margin is for
		// scrolling, which app.wasm's page, rendered again with the margin, serves. A
		// 10,000-tag page is 100 kB instead of 131 to parse, lay out and paint.
		return 0, min(total, h/w.rowHeight+1)
	}
	first = max(0, w.scrollTop/w.rowHeight-overscan)
	last = min(total, (w.scrollTop+h)/w.rowHeight+1+overscan)
	return first, max(first, last)
}

// onScroll records the container's scroll position.
func (w *window) onScroll(ctx app.Context, e app.Event) {
	w.scrollTop = ctx.JSSrc().Get("scrollTop").Int()
	w.height = ctx.JSSrc().Get("clientHeight").Int()
}

// reset scrolls back to the top, for a new list.
func (w *window) reset() { w.scrollTop = 0 }

// spacer stands in for rows that are not rendered.
func (w window) spacer(rows int) app.UI {
	if rows <= 0 {
		return app.Text("")
	}
	return app.Div().Class("spacer").Style("height", px(rows*w.rowHeight))
}

// spacerRow is spacer for tables.
func (w window) spacerRow(rows, cols int) app.UI {
	if rows <= 0 {
		return app.Text("")
	}
	return app.Tr().Class("spacer").Style("height", px(rows*w.rowHeight)).Body(app.Td().ColSpan(cols))
}

func px(n int) string { return strconv.Itoa(n) + "px" }

// rowFocus remembers which row of a virtual list, and which control in it, holds focus. It is
// written by a native focusin listener, synchronously while the DOM still shows what the user
// focused (go-app handlers run later, possibly after a re-render gave the row's elements to
// another tag), and read after each re-render to put focus back on that tag.
type rowFocus struct {
	mu        sync.Mutex
	list, key string // the list's selector, and the data attribute naming each row
	tag, sel  string
	listener  app.Func
}

// listen starts following focus in the rows of list (a CSS selector) that carry data-key.
func (f *rowFocus) listen(list, key string) {
	if app.IsServer || f.listener != nil {
		return
	}
	f.list, f.key = list, key
	f.listener = app.FuncOf(func(this app.Value, args []app.Value) any {
		target := args[0].Get("target")
		row := target.Call("closest", f.rows())
		if !row.Truthy() {
			return nil
		}
		sel := "a"
		switch key := target.Get("dataset").Get("focus"); {
		case target.Equal(row):
			sel = ""
		case key.Truthy():
			sel = `[data-focus="` + key.String() + `"]`
		}
		f.mu.Lock()
		f.tag, f.sel = row.Get("dataset").Get(f.key).String(), sel
		f.mu.Unlock()
		return nil
	})
	app.Window().Get("document").Call("addEventListener", "focusin", f.listener)
}

// stop ends listen.
func (f *rowFocus) stop() {
	if f.listener != nil {
		app.Window().Get("document").Call("removeEventListener", "focusin", f.listener)
		f.listener.Release()
		f.listener = nil
	}
}

// restore puts focus back on the remembered tag's control when a re-render moved it away.
func (f *rowFocus) restore() {
	f.mu.Lock()
	tag, sel := f.tag, f.sel
	f.mu.Unlock()
	if tag == "" {
		return
	}
	doc := app.Window().Get("document")
	active := doc.Get("activeElement")
	if !active.Truthy() {
		return
	}
	row := active.Call("closest", f.rows())
	inList := active.Call("closest", f.list).Truthy() || active.Equal(doc.Get("body"))
	if !inList || (row.Truthy() && row.Get("dataset").Get(f.key).String() == tag) {
		return
	}
	if el := doc.Call("querySelector", strings.TrimSpace(fmt.Sprintf(`%s [data-%s=%q] %s`, f.list, f.key, tag, sel))); el.Truthy() {
		el.Call("focus", map[string]any{"preventScroll": true})
	}
}

// rows is the selector of the list's rows.
func (f *rowFocus) rows() string { return f.list + " [data-" + f.key + "]" }
