package ui

import (
	"slices"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// The repository page's findings filter: tags whose image Berth's scan found a critical
// vulnerability with a fix in (the tag list carries the index's counts, so every tag is
// filtered at once, not only those whose severity column loaded).

// fixableCritical is the findings filter's one choice.
const fixableCritical = "fixable critical"

// keepsFindings reports whether the findings filter keeps t.
func keepsFindings(filter string, t api.Tag) bool {
	return filter != fixableCritical || t.FixableCritical > 0
}

// scannedTags reports whether Berth scanned any of tags: the filter shows only then.
func scannedTags(tags []api.Tag) bool {
	return slices.ContainsFunc(tags, func(t api.Tag) bool { return t.Severity != "" })
}

// worstBadge is the catalog's findings cell: the worst severity Berth's scans found among a
// repository's tagged images, from the index; empty when none is scanned.
func worstBadge(r api.Repository) app.UI {
	cell := app.Span().Class("fact sev")
	switch r.Severity {
	case "":
		return cell
	case "none":
		return cell.Body(app.Span().Class("chip sev-none").Title("Berth's scans found nothing").Text("no findings"))
	}
	return cell.Body(app.Span().Class("chip sev sev-"+r.Severity).DataSet("severity", r.Severity).
		Title("The worst finding of Berth's scans of its tags").Text(r.Severity))
}
