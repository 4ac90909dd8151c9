package ui

// Referrer tags on the repository page. Tags named after another manifest's digest (cosign's
// sha256-<hex>.sig/.att/.sbom, the OCI referrers fallback index sha256-<hex>) are not images:
// they show as badges on the row of the image they belong to, never as rows, and counts leave
// them out (api.CountTags). Deleting every tag takes them along; deleting a manifest takes
// its own.

import (
	"fmt"
	"slices"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// referrerRef is a referrer tag to delete: by digest when its details are known (the
// manifest goes with its tag), else by name.
type referrerRef struct {
	Tag, Digest string
}

// ref is what a delete job is given for it.
func (r referrerRef) ref(manifest bool) string {
	if manifest && r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

// referrerIndex groups the referrer tags by the digest they are named after; orphans are
// those whose subject no tag of the repository points to. It also counts the images.
func (p *repositoryPage) referrerIndex() {
	p.referrers, p.orphans = map[string][]int{}, nil
	tagged := make(map[string]bool, len(p.tags))
	known := true // every image's digest is in: a subject none has is really untagged
	for _, t := range p.tags {
		if api.IsReferrerTag(t.Name) {
			continue
		}
		if t.Digest != "" {
			tagged[t.Digest] = true
		} else if t.Error == "" {
			known = false
		}
	}
	p.images = 0
	for i, t := range p.tags {
		subject, _, ok := api.ReferrerTag(t.Name)
		switch {
		case !ok:
			p.images++
		case tagged[subject]:
			p.referrers[subject] = append(p.referrers[subject], i)
		case known:
			p.orphans = append(p.orphans, i)
		}
	}
	// The most telling badge first, where a narrow cell shows only the first ones.
	rank := func(i int) int {
		_, kind, _ := api.ReferrerTag(p.tags[i].Name)
		if r := slices.Index([]string{api.ReferrerSignature, api.ReferrerAttestation, api.ReferrerSBOM}, kind); r >= 0 {
			return r
		}
		return 3
	}
	for _, is := range p.referrers {
		slices.SortStableFunc(is, func(a, b int) int { return rank(a) - rank(b) })
	}
}

// referrerCount is how many referrer tags the repository has.
func (p *repositoryPage) referrerCount() int { return len(p.tags) - p.images }

// countLabel is the page head's count: images, and referrer tags apart.
func (p *repositoryPage) countLabel() string {
	label := plural(p.images, "tag")
	if n := p.referrerCount(); n > 0 {
		label += fmt.Sprintf(" + %d signature/attestation %s", n, map[bool]string{true: "tag", false: "tags"}[n == 1])
	}
	return label
}

// referrerBadge names what a referrer tag holds, as its badge says it.
func referrerBadge(kind string) string {
	switch kind {
	case api.ReferrerSignature:
		return "signed"
	case api.ReferrerAttestation:
		return "attestation"
	case api.ReferrerSBOM:
		return "SBOM"
	case api.ReferrerIndex:
		return "referrers"
	}
	return kind
}

// referrerChips are the badges of an image's referrer tags, each a link to its manifest.
func (p *repositoryPage) referrerChips(digest string) []app.UI {
	var chips []app.UI
	for _, i := range p.referrers[digest] {
		name := p.tags[i].Name
		_, kind, _ := api.ReferrerTag(name)
		chips = append(chips, app.A().Class("chip artifact signed").DataSet("referrer", name).
			Href(manifestURL(p.name, name)).Title(referrerTagLabel(name)+": "+name).
			Aria("label", referrerBadge(kind)+": "+referrerTagLabel(name)+" of this image").Text(referrerBadge(kind)))
	}
	return chips
}

// referrerRefs returns the referrer tags of the digests given, or every one when all.
func (p *repositoryPage) referrerRefs(digests []string, all bool) []referrerRef {
	var out []referrerRef
	add := func(i int) { out = append(out, referrerRef{Tag: p.tags[i].Name, Digest: p.tags[i].Digest}) }
	if all {
		for i, t := range p.tags {
			if api.IsReferrerTag(t.Name) {
				add(i)
			}
		}
		return out
	}
	for _, d := range digests {
		for _, i := range p.referrers[d] {
			add(i)
		}
	}
	return out
}

// renderOrphans lists the referrer tags whose image no tag points to any more (deleted, or
// untagged): not rows, but not hidden either.
func (p *repositoryPage) renderOrphans() app.UI {
	if len(p.orphans) == 0 || p.state != loaded {
		return nil
	}
	items := make([]app.UI, 0, len(p.orphans))
	for _, i := range p.orphans {
		name := p.tags[i].Name
		subject, _, _ := api.ReferrerTag(name)
		items = append(items, app.Li().Body(
			app.A().Class("mono").Title(name).Href(manifestURL(p.name, name)).Text(referrerTagLabel(name)+" of "+shortDigest(subject)),
		))
	}
	return app.Div().Class("card").ID("orphan-referrers").Body(
		app.H2().Text(plural(len(p.orphans), "signature/attestation tag")+" without a tagged image"),
		app.P().Class("hint").Text("Named after a manifest no tag points to (untagged, or deleted). Deleting every tag removes them too."),
		app.Ul().Class("sharing-tags").Body(items...),
	)
}
