package ui

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// The tag table's vulnerability column: severity counts from the reports referring to each
// tag's manifest, asked for the rows in view, in one batch request at a time.

// maxSeverityBatch is the most digests GET …/-/severities takes at once.
const maxSeverityBatch = 100

// tagSeverities holds the counts the repository page knows, by digest.
type tagSeverities struct {
	counts map[string]api.Severities
	asked  map[string]bool
	errs   map[string]string
}

func (s *tagSeverities) reset() { *s = tagSeverities{} }

// next returns the digests of rows (indexes into tags) that have details and were not asked
// for yet, at most maxSeverityBatch, and marks them asked.
func (s *tagSeverities) next(tags []api.Tag, rows []int, pending map[int]bool) []string {
	if s.asked == nil {
		s.asked = map[string]bool{}
	}
	var digests []string
	for _, i := range rows {
		t := tags[i]
		if pending[i] || t.Digest == "" || s.asked[t.Digest] || (t.Kind != "image" && t.Kind != "index") {
			continue
		}
		s.asked[t.Digest] = true
		digests = append(digests, t.Digest)
		if len(digests) == maxSeverityBatch {
			break
		}
	}
	return digests
}

// loadSeverities asks for the counts of the rows in view that have none yet.
func (p *repositoryPage) loadSeverities(ctx app.Context) {
	first, last := p.win.span(len(p.view))
	digests := p.sev.next(p.tags, p.view[first:last], p.pending)
	if len(digests) == 0 {
		return
	}
	gen, name := p.gen, p.name
	ctx = p.home.of(ctx)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b, err := apiClient().Severities(c, name, digests)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			if p.sev.counts == nil {
				p.sev.counts, p.sev.errs = map[string]api.Severities{}, map[string]string{}
			}
			for _, d := range digests {
				switch {
				case err != nil:
					p.sev.errs[d] = err.Error()
				case b.Errors[d] != "":
					p.sev.errs[d] = b.Errors[d]
				default:
					p.sev.counts[d] = b.Severities[d]
				}
			}
		})
	})
}

// severityCell is a tag's vulnerability counts, linked to its supply-chain view.
func (p *repositoryPage) severityCell(t api.Tag) app.UI {
	td := app.Td().Class("severity")
	if msg, ok := p.sev.errs[t.Digest]; ok {
		return td.Body(app.Span().Class("muted").Title(msg).Text("—"))
	}
	s, ok := p.sev.counts[t.Digest]
	if !ok {
		return td
	}
	img := client.Image{Repository: p.name, Reference: t.Name}
	// The compact badges are for the eye; screen readers get the counts in words.
	return td.Body(app.A().Class("severity-link").DataSet("focus", "severity").Href(insideURL(img, url.Values{"tab": {tabSupply}})).Body(
		app.Span().Class("severity-badges").Aria("hidden", "true").Body(severityBadges(s, true)...),
		srOnly("Vulnerabilities of "+t.Name+": "+severityText(s)),
	))
}

// severityText says the counts in words, for screen readers.
func severityText(s api.Severities) string {
	if s.Reports == 0 {
		return "not scanned"
	}
	if s.Total() == 0 {
		return "no findings"
	}
	out := ""
	for _, sev := range severityOrder {
		if n := severityCount(s, sev); n > 0 {
			if out != "" {
				out += ", "
			}
			out += fmt.Sprintf("%d %s", n, sev)
		}
	}
	return out
}
