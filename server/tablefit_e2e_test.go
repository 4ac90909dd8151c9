package main

import (
	"fmt"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// At desktop widths the tag table of team/api/server (long tag names, referrer tags a digest
// long, several platforms) fits its box: every row's Delete is inside the viewport and the
// table is no wider than its container, so nothing scrolls sideways.
func TestE2ETagTableFits(t *testing.T) {
	ctx := browser(t)
	base := startBerth(t, nil)
	for _, width := range []int64{1024, 1280} {
		if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: width, Height: 800, DeviceScaleFactor: 1}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/repositories/team/api/server"), waitRows(`#tags tr.tag:not(.pending) .delete-tag`), appRunning()); err != nil {
			t.Fatalf("%d px: %v", width, err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			const wrap = document.querySelector("#tags").closest(".table-wrap");
			if (wrap.scrollWidth > wrap.clientWidth + 1) return "the table is " + wrap.scrollWidth + " px wide in a " + wrap.clientWidth + " px box";
			for (const b of document.querySelectorAll("#tags tr.tag .delete-tag")) {
				const r = b.getBoundingClientRect();
				if (r.left < 0 || r.right > window.innerWidth || r.width < 40) return "Delete of " + b.closest("tr").dataset.tag + " spans " + r.left + "–" + r.right + " px of " + window.innerWidth;
			}
			return "";
		})()`))
		if err != nil || got != "" {
			t.Errorf("%d px: %s (%v)", width, got, err)
		}
		screenshot(t, ctx, fmt.Sprintf("tag-table-%d", width))
	}
}
