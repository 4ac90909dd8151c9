package ui

import (
	"strconv"

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
