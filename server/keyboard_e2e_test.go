package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
	"github.com/berth-registry/berth/server/config"
)

// focused describes the element holding focus: its id, the tag of the row it is in, and
// whether it is inside the delete dialog.
type focused struct {
	ID     string `json:"id"`
	Tag    string `json:"tag"`
	Dialog bool   `json:"dialog"`
	InTags bool   `json:"inTags"`
}

func focusNow(t *testing.T, ctx context.Context) focused {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(function(){
		const a = document.activeElement, row = a && a.closest("[data-tag]");
		return JSON.stringify({id: a ? a.id : "", tag: row ? row.dataset.tag : "", dialog: !!(a && a.closest("#delete-dialog")), inTags: !!(a && a.closest("#tags"))});
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	var f focused
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// keyboardTags is the size of the repository walked by keyboard: enough for the virtual
// list to move its window many times over (it renders a few dozen rows at once).
const keyboardTags = 150

// TestE2EKeyboardAndPhone walks a 150-tag repository with the keyboard alone, uses the
// delete dialog without a mouse, and checks the same page on a phone screen.
func TestE2EKeyboardAndPhone(t *testing.T) {
	// Pages prerendered with their data, as a deployed Berth serves them: the repository
	// page arrives with its first rows and fetches the rest.
	base := startLargeBerth(t, 1, keyboardTags, false, func(c *config.Config) { c.ClientRendered = false })
	ctx := browser(t)
	const repo = "big/r000000"

	resp, err := http.Get(base + "/api/v1/repositories/" + repo + "/tags?details=false")
	if err != nil {
		t.Fatal(err)
	}
	var page api.TagPage
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil || len(page.Tags) != keyboardTags {
		t.Fatalf("tags: %v, %d", err, len(page.Tags))
	}
	var want []string
	for _, tg := range page.Tags {
		want = append(want, tg.Name)
	}
	slices.Sort(want)
	firstRowsOnly(t, base, repo, keyboardTags)

	// The filter has focus on load; the table is sorted by name.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/repositories/"+repo),
		waitShown(`#tags tr.tag`),
		waitJS(`document.querySelectorAll("#tags tr.tag.pending").length === 0 && !document.querySelector(".count").innerText.includes("loading")`),
		waitJS(`document.activeElement && document.activeElement.id === "tag-filter"`),
		clickOn(`#tags thead th:nth-child(2) button`),
		waitJS(`document.querySelector("#tags tr.tag").dataset.tag === `+jsString(want[0])),
		waitJS(`(document.querySelector("#tag-filter").focus(), document.activeElement.id === "tag-filter")`),
	); err != nil {
		t.Fatalf("repository page: %v", err)
	}

	// The virtual list places rows by their height: it must be exactly the one it assumes.
	if h, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector("#tags tr.tag").getBoundingClientRect().height`)); err != nil || h != 44 {
		t.Errorf("tag rows are %vpx high, the virtual list assumes 44 (%v)", h, err)
	}

	// Tab from the filter reaches every tag, in order, then leaves the table.
	var seen []string
	entered := false
	for i := 0; i < 8000; i++ {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		f := focusNow(t, ctx)
		if f.InTags && f.Tag != "" {
			entered = true
			if len(seen) == 0 || seen[len(seen)-1] != f.Tag {
				seen = append(seen, f.Tag)
			}
			continue
		}
		if entered && !f.InTags {
			break
		}
		if entered && f.Tag == "" && f.ID == "" && !f.InTags {
			break
		}
	}
	if !slices.Equal(seen, want) {
		first := 0
		for first < min(len(seen), len(want)) && seen[first] == want[first] {
			first++
		}
		t.Fatalf("Tab reached %d tags; the first difference is at %d (want %v, got %v)", len(seen), first,
			want[first:min(first+3, len(want))], seen[first:min(first+3, len(seen))])
	}

	// The delete dialog: opened from a row by keyboard, Cancel focused first, focus trapped
	// inside, Escape closes it and focus returns to the row's Delete button.
	target := want[2]
	if err := chromedp.Do(ctx,
		waitJS(`(document.querySelector("#tags").closest(".vlist").scrollTop = 0) === 0`),
		waitShown(fmt.Sprintf(`#tags tr[data-tag=%q] .delete-tag`, target)),
		focusOn(fmt.Sprintf(`#tags tr[data-tag=%q] .delete-tag`, target)),
		chromedp.KeyEvent(kb.Enter),
		waitShown(`#delete-dialog[open]`),
		waitJS(`document.activeElement && document.activeElement.id === "delete-cancel"`),
	); err != nil {
		t.Fatalf("delete dialog by keyboard: %v", err)
	}
	name, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById(document.querySelector("#delete-dialog").getAttribute("aria-labelledby")).innerText`))
	if name == "" || !strings.Contains(name, target) {
		t.Errorf("the dialog is named %q, want its heading naming %s", name, target)
	}
	for i := 0; i < 6; i++ {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		if f := focusNow(t, ctx); !f.Dialog {
			t.Fatalf("Tab %d left the modal dialog: focus on %+v", i+1, f)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.KeyEvent(kb.Escape),
		waitJS(`!document.querySelector("#delete-dialog").open`),
	); err != nil {
		t.Fatalf("Escape: %v", err)
	}
	if err := chromedp.Do(ctx, waitJS(fmt.Sprintf(`document.activeElement && document.activeElement.matches('#tags tr[data-tag=%q] .delete-tag')`, target))); err != nil {
		t.Errorf("focus did not return to the Delete button of %s: %+v", target, focusNow(t, ctx))
	}

	// Copying a pull command is announced to screen readers.
	if err := chromedp.Do(ctx,
		clickOn(fmt.Sprintf(`#tags tr[data-tag=%q] .copy-pull`, target)),
		waitJS(`document.querySelector("#announce[role=status]").innerText.includes("Copied")`),
	); err != nil {
		t.Errorf("copy announcement: %v", err)
	}

	// "/" focuses the filter from anywhere outside a field.
	if err := chromedp.Do(ctx,
		waitJS(`(document.activeElement.blur(), document.activeElement === document.body)`),
		chromedp.KeyEvent("/"),
		// Only focus is checked: CDP sends the character as an event of its own after keydown,
		// so the page's preventDefault cannot keep "/" out of the field as it does for people.
		waitJS(`document.activeElement.id === "tag-filter"`),
	); err != nil {
		t.Errorf("/ shortcut: %v", err)
	}
	// ArrowDown moves from the filter into the results (the "/" CDP typed is cleared first).
	if err := chromedp.Do(ctx,
		waitJS(`(function(f){ f.value = ""; f.dispatchEvent(new Event("input", {bubbles: true})); f.focus(); return true; })(document.querySelector("#tag-filter"))`),
		waitShown(`#tags tr.tag`),
		chromedp.KeyEvent(kb.ArrowDown),
		waitJS(`document.activeElement.closest("#tags tr.tag") !== null`),
	); err != nil {
		t.Errorf("ArrowDown from the filter: %v", err)
	}

	// On a phone every tag is a card with its Copy and Delete buttons inside the screen, and
	// nothing is wider than the screen.
	if err := chromedp.Do(ctx, look(390, 844, false), chromedp.Navigate(base+"/repositories/"+repo), waitShown(`#tags tr.tag .copy-pull`)); err != nil {
		t.Fatal(err)
	}
	noOverflow(t, ctx, "phone-tags")
	screenshot(t, ctx, "phone-tags")
	checked := map[string]bool{}
	// Eleven scroll positions, each given time for the virtual window to move: every card
	// rendered along the way is checked.
	for _, at := range []string{"0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1"} {
		out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(async function(){
			const box = document.querySelector("#tags").closest(".vlist");
			box.scrollTop = (box.scrollHeight - box.clientHeight) * `+at+`;
			await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
			await new Promise(r => setTimeout(r, 150));
			const w = document.documentElement.clientWidth, out = [];
			for (const row of document.querySelectorAll("#tags tr.tag")) {
				const ok = [".copy-pull", ".delete-tag"].every(s => { const b = row.querySelector(s); if (!b) return false;
					const r = b.getBoundingClientRect(); return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= w; });
				out.push((ok ? "ok " : "bad ") + row.dataset.tag);
			}
			return out;
		})()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			ok, tag, _ := strings.Cut(o, " ")
			if ok != "ok" {
				t.Errorf("phone: the Copy or Delete button of %s is hidden or off screen", tag)
			}
			checked[tag] = true
		}
	}
	if len(checked) < 100 {
		t.Errorf("phone: checked only %d cards", len(checked))
	}
}

// firstRowsOnly checks that a repository's prerendered page carries its newest 100 tags with
// details and the total, not all of them: the app fetches the rest in rows, which the Tab
// walk below then crosses.
func firstRowsOnly(t *testing.T, base, repo string, total int) {
	t.Helper()
	// Described once, so the page is prerendered within its bound (cold, it goes out without
	// data and the browser loads everything).
	warmed, err := http.Get(base + "/api/v1/repositories/" + repo + "/tags?limit=all")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, warmed.Body)
	warmed.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, base+"/repositories/"+repo, nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	_, rest, _ := strings.Cut(string(body), `<script type="application/json" id="berth-seed">`)
	seed, _, _ := strings.Cut(rest, "</script>")
	var s struct{ Answers map[string]api.TagPage }
	if err := json.Unmarshal([]byte(seed), &s); err != nil {
		t.Fatalf("the page's seed: %v", err)
	}
	first, ok := s.Answers[client.FirstTagsPath(repo, 100)]
	delete(s.Answers, client.RepositoryStatsPath(repo, "30d")) // the activity line's, beside
	if !ok || len(s.Answers) != 1 || len(first.Tags) != 100 || first.Total != total || first.Tags[0].Size == 0 {
		t.Fatalf("the page carries %d answers, the first tags' %d of %d (first %+v), want 100 of %d with details", len(s.Answers), len(first.Tags), first.Total, first.Tags[:min(1, len(first.Tags))], total)
	}
	if !slices.IsSortedFunc(first.Tags, func(a, b api.Tag) int { return b.Created.Compare(a.Created) }) {
		t.Error("the first tags are not newest first, the order the page opens in")
	}
}
