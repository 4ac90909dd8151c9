package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// The inside page's supply-chain view: what SBOMs, vulnerability reports and signatures
// (referrers and cosign tags) say about the image.

// severityOrder lists severities from the worst.
var severityOrder = []string{"critical", "high", "medium", "low", "unknown"}

func severityCount(s api.Severities, sev string) int {
	switch sev {
	case "critical":
		return s.Critical
	case "high":
		return s.High
	case "medium":
		return s.Medium
	case "low":
		return s.Low
	}
	return s.Unknown
}

// severityChips shows the non-zero counts, worst first; "not scanned" without a report.
func severityChips(s api.Severities) []app.UI { return severityBadges(s, false) }

// severityBadges is severityChips, or with compact set one line of "1C 2H" for the tag table
// (whose rows have a fixed height), each chip titled in words.
func severityBadges(s api.Severities, compact bool) []app.UI {
	if s.Reports == 0 {
		return []app.UI{app.Span().Class("muted").Text("not scanned")}
	}
	if s.Total() == 0 {
		return []app.UI{app.Span().Class("chip sev-none").Text("no findings")}
	}
	var out []app.UI
	for _, sev := range severityOrder {
		if n := severityCount(s, sev); n > 0 {
			text := fmt.Sprintf("%d %s", n, sev)
			chip := app.Span().Class("chip sev sev-"+sev).DataSet("severity", sev)
			if compact {
				chip = chip.Title(text).Text(fmt.Sprintf("%d%c", n, sev[0]-'a'+'A'))
			} else {
				chip = chip.Text(text)
			}
			out = append(out, chip)
		}
	}
	return out
}

// filterPackages recomputes the packages shown after the list or the filter changed.
func (p *insidePage) filterPackages() {
	q := strings.ToLower(strings.TrimSpace(p.pkgQuery))
	p.pkgView = p.pkgView[:0]
	for i, pk := range p.supply.v.Packages {
		if q == "" || strings.Contains(strings.ToLower(pk.Name+" "+pk.Version+" "+pk.Type+" "+pk.License), q) {
			p.pkgView = append(p.pkgView, i)
		}
	}
}

func (p *insidePage) supplyView() app.UI {
	s := p.supply
	switch s.state {
	case loading:
		return loadingView("supply chain")
	case failed:
		return failure(s.err, func(ctx app.Context) { p.supply.forget(); p.loadView(ctx) })
	}
	sc := s.v
	return app.Div().ID("supply").Body(
		p.documentsCard(sc),
		p.findingsCard(sc),
		p.packagesCard(sc),
		p.signaturesCard(sc),
		app.If(sc.Truncated, func() app.UI {
			return app.P().Class("hint").Text("Some lists were cut short: the documents are larger than Berth shows.")
		}),
	)
}

func (p *insidePage) documentsCard(sc api.SupplyChain) app.UI {
	if len(sc.Documents) == 0 {
		return app.Div().Class("card").Body(app.H2().Text("Documents"),
			app.P().Class("hint").Text("No SBOM, vulnerability report or signature refers to this image."))
	}
	now := time.Now()
	var rows []app.UI
	for _, d := range sc.Documents {
		what := ""
		switch {
		case d.Error != "":
			what = "skipped: " + d.Error
		case d.Packages > 0:
			what = plural(d.Packages, "package")
		case d.Findings > 0 || d.Kind == "vulnerabilities":
			what = plural(d.Findings, "finding")
		}
		kind := d.Kind
		if d.Attestation {
			kind += " (attestation)"
		}
		rows = append(rows, app.Tr().Body(
			app.Td().Text(kind),
			app.Td().Text(d.Format),
			app.Td().Body(app.A().Class("mono").Href(manifestURL(p.img.Repository, d.Digest)).Title(d.Digest).Text(shortDigest(d.Digest))),
			app.Td().Class("created").Text(ago(d.Created, now)),
			app.Td().Class(map[bool]string{true: "row-error", false: ""}[d.Error != ""]).Text(what),
		))
	}
	return app.Div().Class("card").Body(
		app.H2().Text(fmt.Sprintf("Documents (%d)", len(sc.Documents))),
		scrollBox("Documents").Body(app.Table().Class("grid").ID("supply-documents").Body(
			app.THead().Body(app.Tr().Body(app.Th().Text("Kind"), app.Th().Text("Format"), app.Th().Text("Manifest"), app.Th().Text("Created"), app.Th().Text("Holds"))),
			app.TBody().Body(rows...),
		)),
	)
}

func (p *insidePage) findingsCard(sc api.SupplyChain) app.UI {
	return app.Div().Class("card").Body(
		app.H2().Text(fmt.Sprintf("Vulnerabilities (%d)", len(sc.Findings))),
		app.Div().Class("severity-counts").ID("severity-counts").Body(severityChips(sc.Severities)...),
		findingsTable(sc.Findings),
	)
}

// worstFirst returns the findings ordered by severity, critical first, keeping the reports'
// order within a severity.
func worstFirst(findings []api.Finding) []api.Finding {
	rank := func(f api.Finding) int {
		if i := slices.Index(severityOrder, f.Severity); i >= 0 {
			return i
		}
		return len(severityOrder)
	}
	out := slices.Clone(findings)
	slices.SortStableFunc(out, func(a, b api.Finding) int { return rank(a) - rank(b) })
	return out
}

// advisoryURL is where a vulnerability id is described: NVD for a CVE, OSV (which knows
// GHSA, GO, PYSEC, distribution advisories and CVEs too) for the rest; "" for an id that is
// not one (only letters, digits and -._: make it into the address) or one of the demo's
// fictional advisories (BERTH-DEMO-…, server/demo).
func advisoryURL(id string) string {
	if id == "" || len(id) > 64 || strings.HasPrefix(id, "BERTH-DEMO-") {
		return ""
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._:", r)) {
			return ""
		}
	}
	if strings.HasPrefix(id, "CVE-") {
		return "https://nvd.nist.gov/vuln/detail/" + id
	}
	return "https://osv.dev/vulnerability/" + id
}

// advisoryLink is a vulnerability id linking to its advisory.
func advisoryLink(id string) app.UI {
	u := advisoryURL(id)
	if u == "" {
		return app.Text(id)
	}
	return app.A().Class("advisory").Href(u).Target("_blank").Rel("noopener noreferrer").Title("The advisory for " + id).Text(id)
}

// findingsTable lists vulnerability findings; nothing without any.
func findingsTable(findings []api.Finding) app.UI {
	if len(findings) == 0 {
		return nil
	}
	var rows []app.UI
	for _, f := range findings {
		rows = append(rows, app.Tr().DataSet("finding", f.ID).Body(
			app.Td().Class("mono").Body(advisoryLink(f.ID)),
			app.Td().Body(app.Span().Class("chip sev sev-"+f.Severity).Text(f.Severity)),
			app.Td().Class("mono").Text(f.Package),
			app.Td().Class("mono").Text(f.Version),
			app.Td().Class("mono").Text(f.FixedVersion),
			app.Td().Class("break").Text(f.Title),
			app.Td().Class("source").Text(f.Source),
		))
	}
	return scrollBox("Vulnerabilities").Body(app.Table().Class("grid").ID("findings").Body(
		app.THead().Body(app.Tr().Body(app.Th().Text("ID"), app.Th().Text("Severity"), app.Th().Text("Package"),
			app.Th().Text("Version"), app.Th().Text("Fixed in"), app.Th().Text("Title"), app.Th().Text("Source"))),
		app.TBody().Body(rows...),
	))
}

func (p *insidePage) packagesCard(sc api.SupplyChain) app.UI {
	if len(sc.Packages) == 0 {
		return app.Div().Class("card").Body(app.H2().Text("Packages"), app.P().Class("hint").Text("No SBOM lists this image's packages."))
	}
	rows := make([]app.UI, 0, len(p.pkgView))
	for _, i := range p.pkgView {
		pk := sc.Packages[i]
		rows = append(rows, app.Tr().DataSet("package", pk.Name).Body(
			app.Td().Class("mono break").Title(pk.PURL).Text(pk.Name),
			app.Td().Class("mono").Text(pk.Version),
			app.Td().Text(pk.Type),
			app.Td().Text(pk.License),
		))
	}
	return app.Div().Class("card").Body(
		app.H2().Text(fmt.Sprintf("Packages (%d)", len(sc.Packages))),
		app.Div().Class("toolbar").Body(
			app.Input().Type("search").Class("search").ID("package-filter").Placeholder("Filter by name, version, type or license…").
				Aria("label", "Filter packages").Value(p.pkgQuery).OnInput(func(ctx app.Context, e app.Event) {
				p.ValueTo(&p.pkgQuery)(ctx, e)
				p.filterPackages()
			}),
		),
		app.If(len(rows) == 0, func() app.UI { return app.P().Class("hint").Text("No package matches the filter.") }),
		app.If(len(rows) > 0, func() app.UI {
			return scrollBox("Packages").Body(app.Table().Class("grid").ID("packages").Body(
				app.THead().Body(app.Tr().Body(app.Th().Text("Name"), app.Th().Text("Version"), app.Th().Text("Type"), app.Th().Text("License"))),
				app.TBody().Body(rows...),
			))
		}),
	)
}

func (p *insidePage) signaturesCard(sc api.SupplyChain) app.UI {
	if len(sc.Signatures) == 0 {
		return app.Div().Class("card").Body(app.H2().Text("Signatures"), app.P().Class("hint").ID("no-signatures").Text("No signature refers to this image."))
	}
	var rows []app.UI
	for _, s := range sc.Signatures {
		identity := s.Identity
		if identity == "" && s.Note != "" {
			identity = s.Note
		}
		rows = append(rows, app.Tr().Body(
			app.Td().Text(s.Kind),
			app.Td().Class("break").Text(identity),
			app.Td().Class("break").Text(s.Issuer),
			app.Td().Class("mono break").Text(s.KeyID),
			app.Td().Class("mono").Title(s.Subject).Text(shortDigest(s.Subject)),
		))
	}
	return app.Div().Class("card").Body(
		app.H2().Text(fmt.Sprintf("Signatures (%d)", len(sc.Signatures))),
		scrollBox("Signatures").Body(app.Table().Class("grid").ID("signatures").Body(
			app.THead().Body(app.Tr().Body(app.Th().Text("Kind"), app.Th().Text("Signer"), app.Th().Text("Issuer"), app.Th().Text("Key id"), app.Th().Text("Signs"))),
			app.TBody().Body(rows...),
		)),
	)
}
