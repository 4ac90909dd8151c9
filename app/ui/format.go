package ui

// The UI's formatters and chips: sizes, relative times, short digests, kind and platform
// badges, repository names. Pure functions of their input, so pages render the same on the
// server and in the browser.

import (
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// humanSize renders a byte count the way docker does (decimal units).
func humanSize(n int64) string { return api.HumanSize(n) }

// ago renders a time relative to now: "3 days ago".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in the future"
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	case d < 365*24*time.Hour:
		return plural(int(d/(30*24*time.Hour)), "month") + " ago"
	}
	return plural(int(d/(365*24*time.Hour)), "year") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// shortDigest renders sha256:0123456789abcdef… as its first 12 hex digits.
func shortDigest(d string) string { return api.ShortDigest(d) }

func sizeLabel(t api.Tag) string {
	if t.Size == 0 && t.Error != "" {
		return "—"
	}
	return humanSize(t.Size)
}

func platformChips(t api.Tag) []app.UI {
	var chips []app.UI
	switch t.Kind {
	case "artifact":
		chips = append(chips, app.Span().Class("chip artifact").Title(t.ArtifactType).Text(artifactLabel(t.ArtifactType)))
	case "schema1":
		chips = append(chips, app.Span().Class("chip warn").Text("schema 1"))
	case "referrer":
		chips = append(chips, app.Span().Class("chip artifact").Title("tagged after the digest it describes").Text(referrerTagLabel(t.Name)))
	}
	for _, pl := range t.Platforms {
		chips = append(chips, app.Span().Class("chip").Title(fmt.Sprintf("%s · %s", humanSize(pl.Size), pl.Digest)).Text(pl.String()))
	}
	if t.Attestations > 0 {
		chips = append(chips, app.Span().Class("chip muted").Title("build attestations (provenance, SBOM)").Text(plural(t.Attestations, "attestation")))
	}
	return chips
}

// referrerTagLabel names what a digest-named tag holds.
func referrerTagLabel(tag string) string {
	switch {
	case strings.HasSuffix(tag, ".sig"):
		return "cosign signature"
	case strings.HasSuffix(tag, ".att"):
		return "cosign attestation"
	case strings.HasSuffix(tag, ".sbom"):
		return "cosign SBOM"
	}
	return "referrers index"
}

// artifactLabel names well-known artifact types in words.
func artifactLabel(mediaType string) string {
	switch {
	case strings.Contains(mediaType, "helm"):
		return "Helm chart"
	case strings.Contains(mediaType, "cosign") || strings.Contains(mediaType, "signature"):
		return "signature"
	case strings.Contains(mediaType, "spdx") || strings.Contains(mediaType, "cyclonedx") || strings.Contains(mediaType, "sbom"):
		return "SBOM"
	case strings.Contains(mediaType, "in-toto") || strings.Contains(mediaType, "dsse") || strings.Contains(mediaType, "attestation"):
		return "attestation"
	case mediaType == "":
		return "artifact"
	}
	return mediaType
}

func kindLabel(m api.Manifest) string {
	switch m.Kind {
	case "index":
		return "multi-platform index"
	case "artifact":
		return artifactLabel(m.ArtifactType)
	case "schema1":
		return "Docker schema 1 (legacy)"
	}
	return "image"
}

func refLabel(ref string) string {
	if strings.HasPrefix(ref, "sha256:") {
		return "@" + shortDigest(ref)
	}
	return ":" + ref
}

// repoName renders a repository name with its namespace dimmed, so the last part stands out.
func repoName(name string) []app.UI {
	// One raw element: go-app's server rendering puts every child on a line of its own, and
	// the line break between two spans would show as a space in the prerendered page.
	ns, leaf := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		ns, leaf = name[:i+1], name[i+1:]
	}
	h := `<span class="repo-name">`
	if ns != "" {
		h += `<span class="ns">` + html.EscapeString(ns) + `</span>`
	}
	h += `<span class="leaf">` + html.EscapeString(leaf) + `</span></span>`
	return []app.UI{app.Raw(h)}
}
