package site

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/berth-registry/berth/app/ui"
)

// markingSource counts the page answers marked as being built (catalog.Service.Answering).
type markingSource struct {
	ui.Source
	marked *atomic.Int32
}

func (m markingSource) Answering() func() {
	m.marked.Add(1)
	return func() { m.marked.Add(-1) }
}

// TestNavigationMarksItsAnswer: a page prerendered with its data is marked as being built
// for all of its rendering, so background work holds back, and unmarked once written; a
// request for a page without data is not marked.
func TestNavigationMarksItsAnswer(t *testing.T) {
	var marked atomic.Int32
	during := int32(-1)
	render := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		during = marked.Load()
		_, _ = w.Write([]byte("<!DOCTYPE html><html><body>rows</body></html>"))
	})
	h := pages(render, markingSource{marked: &marked}, func(h http.Handler) http.Handler { return h })
	for _, c := range []struct {
		mode string
		want int32
	}{{"navigate", 1}, {"", 0}} {
		req := httptest.NewRequest(http.MethodGet, "/repositories/team/app", nil)
		req.Header.Set("Sec-Fetch-Mode", c.mode)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || during != c.want || marked.Load() != 0 {
			t.Errorf("Sec-Fetch-Mode %q: status %d, marked %d while rendered (want %d), %d after", c.mode, rec.Code, during, c.want, marked.Load())
		}
	}
}
