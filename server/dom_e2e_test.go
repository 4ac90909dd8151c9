package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The browser tests find elements with JavaScript, afresh on every try, instead of through
// chromedp's node tracking. go-app re-renders replace nodes: a node id looked up a moment
// before then fails ("Could not find node with given id"), and under load a DOM call on it
// could wait for good. Every wait here gives up after waitBudget, saying what it last saw.
const waitBudget = 90 * time.Second

// visibleJS finds the first element matching the selector that is laid out (what chromedp
// calls visible), or null.
func visibleJS(sel string) string {
	return fmt.Sprintf(`[...document.querySelectorAll(%s)].find(e => e.offsetWidth || e.offsetHeight || e.getClientRects().length)`, jsString(sel))
}

// until evaluates expr until ok accepts its value, and returns that value.
func until[T any](ctx context.Context, tg *chromedp.Target, what, expr string, ok func(T) bool) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, waitBudget)
	defer cancel()
	var last string
	for i := 0; ; i++ {
		if i%20 == 19 {
			// A page reached through redirects may count as hidden, and then gets no
			// animation frames, in which go-app draws its updates.
			_, _ = chromedp.Call(ctx, page.BringToFront, cdp.Empty{})
		}
		v, err := chromedp.Evaluate[T](expr)(ctx, tg)
		if err == nil && ok(v) {
			return v, nil
		}
		if err != nil {
			last = err.Error()
		} else {
			b, _ := json.Marshal(v)
			last = string(b)
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%s: %w (last: %s)", what, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitShown waits until an element matching the selector is laid out.
func waitShown(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := until(ctx, tg, "waiting for "+sel+" to show", "!!"+visibleJS(sel), isTrue)
		return err
	})
}

// waitGone waits until no element matches the selector.
func waitGone(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := until(ctx, tg, "waiting for "+sel+" to go", "!document.querySelector("+jsString(sel)+")", isTrue)
		return err
	})
}

// clickPoint is where a click lands, in the viewport; Hit says the element is what is there,
// Opens that it is the summary of a closed details element.
type clickPoint struct {
	X, Y           float64
	Ok, Hit, Opens bool
	At             string
}

// clickOn sends a real mouse click to the centre of the first laid-out element matching the
// selector, scrolled into view first, once it stays in place and nothing covers it: a page
// still moving (a note arriving above) would have the click land on something else. A click
// meant to open a details element is sent again until it has.
func clickOn(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		expr := `(() => { const e = ` + visibleJS(sel) + `; if (!e) return {Ok: false};
			if (e.scrollIntoViewIfNeeded) e.scrollIntoViewIfNeeded(true); else e.scrollIntoView({block: "center"});
			const r = e.getClientRects()[0] || e.getBoundingClientRect();
			const x = r.left + r.width / 2, y = r.top + r.height / 2, at = document.elementFromPoint(x, y);
			const opens = e.tagName === "SUMMARY" && !!e.parentElement && e.parentElement.tagName === "DETAILS" && !e.parentElement.open;
			return {X: x, Y: y, Ok: true, Hit: !!at && (at === e || e.contains(at)), Opens: opens, At: at ? at.tagName + "." + at.className + "#" + at.id + " in " + (at.parentElement && at.parentElement.tagName + "." + at.parentElement.className) + " scrollY=" + window.scrollY : ""}; })()`
		opened := `(() => { const e = ` + visibleJS(sel) + `; return !!e && !!e.parentElement && e.parentElement.open; })()`
		deadline := time.Now().Add(waitBudget)
		for {
			var last clickPoint
			p, err := until(ctx, tg, "clicking "+sel, expr, func(p clickPoint) bool {
				steady := p.Ok && p.Hit && p == last
				last = p
				return steady
			})
			if err != nil {
				return err
			}
			if _, err := chromedp.MouseClickXY(p.X, p.Y)(ctx, tg); err != nil || !p.Opens {
				return err
			}
			wait, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = until(wait, tg, "opening "+sel, opened, isTrue)
			cancel()
			if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
				return err
			}
		}
	})
}

// typeInto focuses the first laid-out element matching the selector and types v into it.
func typeInto(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := focusOn(sel)(ctx, tg); err != nil {
			return err
		}
		_, err := chromedp.KeyEvent(v)(ctx, tg)
		return err
	})
}

// focusOn moves keyboard focus to the first laid-out element matching the selector.
func focusOn(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		expr := `(() => { const e = ` + visibleJS(sel) + `; if (!e) return false; e.focus(); return document.activeElement === e; })()`
		_, err := until(ctx, tg, "focusing "+sel, expr, isTrue)
		return err
	})
}

// textOf is the visible text of the first element matching the selector, once there is one
// ("" when it is not laid out), as chromedp.Text gives it.
func textOf(sel string) chromedp.Action[string] {
	return func(ctx context.Context, tg *chromedp.Target) (string, error) {
		expr := `(() => { const e = document.querySelector(` + jsString(sel) + `); if (!e) return null;
			return (e.offsetWidth || e.offsetHeight || e.getClientRects().length) ? e.innerText : ""; })()`
		s, err := until(ctx, tg, "reading "+sel, expr, func(s *string) bool { return s != nil })
		if err != nil || s == nil {
			return "", err
		}
		return *s, nil
	}
}

func isTrue(b bool) bool { return b }

// visit opens u as following a link in the running app does: go-app's own navigation, no page
// load (a load costs the browser seconds of CPU: app.wasm is compiled and started again).
// Before the app runs on u's origin, or when u is on the page shown now (the first part of
// the path alike: the page would keep its old rows until the new ones came), it loads u.
func visit(u string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		target := jsString(u)
		inApp, err := chromedp.Evaluate[bool](`(() => { const u = new URL(`+target+`, location.href);
			const first = p => p.split("/")[1] || "";
			return typeof goappNav === "function" && !document.getElementById("app-wasm-loader") &&
				u.origin === location.origin && first(u.pathname) !== first(location.pathname); })()`)(ctx, tg)
		if err != nil || !inApp {
			_, err := chromedp.Navigate(u)(ctx, tg)
			return err
		}
		if _, err := chromedp.Evaluate[chromedp.Void](`goappNav(`+target+`)`)(ctx, tg); err != nil {
			return err
		}
		_, err = until(ctx, tg, "opening "+u, `(() => { const u = new URL(`+target+`, location.href);
			return location.pathname + location.search === u.pathname + u.search; })()`, isTrue)
		return err
	})
}
