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

// The manifest page's vulnerabilities card: the severity counts and the worst findings of the
// reports that refer to the image shown (for an index, the platform shown and the index
// itself), linked to the supply-chain view with every finding, package and signature.

// manifestFindings is how many findings the manifest page lists; the rest are a link away.
const manifestFindings = 10

// shownImage is the image the manifest page shows: the manifest itself, or for an index the
// platform shown. ok is false for artifacts, which have no vulnerability reports of their own.
func (p *manifestPage) shownImage() (img client.Image, ok bool) {
	m := p.m
	if m.Kind != "image" && m.Kind != "index" {
		return img, false
	}
	img = client.Image{Repository: m.Repository, Reference: m.Reference}
	for _, pl := range m.Platforms {
		if m.Kind == "index" && pl.Digest == p.platform {
			img.Platform = pl.String()
		}
	}
	return img, true
}

// loadFindings asks for the supply chain of the image shown, unless it is what the page holds.
func (p *manifestPage) loadFindings(ctx app.Context) {
	img, ok := p.shownImage()
	if !ok || app.IsServer {
		return
	}
	ctx = p.home.of(ctx)
	p.supply.load(ctx, img.String()+" "+img.Platform, func(c context.Context) (api.SupplyChain, error) {
		return apiClient().SupplyChain(c, img)
	}, nil)
}

// findingsCard shows what the vulnerability reports say; a line when none refers to the image;
// nothing while they load or when they could not be read (the supply-chain view says why).
func (p *manifestPage) findingsCard() app.UI {
	img, ok := p.shownImage()
	if !ok || p.supply.state != loaded {
		return nil
	}
	sc := p.supply.v
	all := app.A().ID("findings-all").Href(insideURL(img, url.Values{"tab": {tabSupply}}))
	scan := &scanControl{Repo: p.m.Repository, Reference: p.m.Reference, Digest: p.m.Digest}
	if sc.Severities.Reports == 0 {
		return app.Div().Class("card").ID("vulnerabilities").Body(
			app.H2().Text("Vulnerabilities"),
			app.P().Class("hint").Body(app.Text("Not scanned: no vulnerability report refers to this image. "),
				all.Text("Supply chain")),
			scan,
		)
	}
	shown := worstFirst(sc.Findings)
	more := ""
	if len(shown) > manifestFindings {
		shown = shown[:manifestFindings]
		more = fmt.Sprintf("All %d findings, packages and signatures", len(sc.Findings))
	} else {
		more = "Packages and signatures"
	}
	return app.Div().Class("card").ID("vulnerabilities").Body(
		app.H2().Text(fmt.Sprintf("Vulnerabilities (%d)", len(sc.Findings))),
		app.Div().Class("severity-counts").Body(severityChips(sc.Severities)...),
		reportSources(sc.Documents),
		scan,
		findingsTable(shown),
		app.P().Class("hint").Body(all.Text(more)),
	)
}

// reportSources names where the counts come from: Berth's own scan, reports others attached.
func reportSources(docs []api.SupplyDocument) app.UI {
	var items []app.UI
	for _, d := range docs {
		if d.Kind != "vulnerabilities" || d.Error != "" {
			continue
		}
		label := findingSource(d)
		if !d.Created.IsZero() {
			label += ", " + ago(d.Created, time.Now())
		}
		items = append(items, app.Li().Text(label))
	}
	if len(items) == 0 {
		return nil
	}
	return app.Div().Class("report-sources").Body(app.Span().Class("hint").Text("From: "), app.Ul().Class("inline-list").Body(items...))
}

// findingSource names a report's source as its findings show it.
func findingSource(d api.SupplyDocument) string { return api.ReportSource(d.Format) }
