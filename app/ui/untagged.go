package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// loadUntagged asks for the repository's untagged manifests. Where the server cannot list
// them (no server, or neither the embedded registry nor the metadata index) the section says
// why instead of listing them.
func (p *repositoryPage) loadUntagged(ctx app.Context) {
	gen, name := p.gen, p.name
	ctx = p.home.of(ctx)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		page, err := apiClient().Untagged(c, name)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen || name != p.name {
				return
			}
			p.untagged, p.untaggedErr, p.untaggedNote = nil, "", ""
			switch code := api.ErrorCode(err); {
			case code == api.CodeDirectMode:
				p.untaggedNote = "Untagged manifests are listed by a Berth server; this page reads the registry directly."
			case code == api.CodeNotAvailable:
				var e *api.Error
				if errors.As(err, &e) {
					p.untaggedNote = e.Message
				}
			case err != nil:
				p.untaggedErr = err.Error()
			case page.Repository != name:
				p.untaggedErr = "the server answered for another repository (" + page.Repository + ")"
			default:
				p.untagged = &page
			}
		})
	})
}

// renderUntagged is the collapsible list of untagged manifests below the tag table, each
// with a delete action.
func (p *repositoryPage) renderUntagged() app.UI {
	if p.untagged != nil && p.untagged.Repository != p.name {
		return nil // another repository's answer: never its rows (or delete buttons) here
	}
	if p.untagged == nil && p.untaggedErr == "" && p.untaggedNote == "" {
		return nil
	}
	summary := "Untagged manifests"
	if p.untaggedNote != "" {
		summary += " (not available here)"
	}
	if u := p.untagged; u != nil {
		n := fmt.Sprint(len(u.Manifests))
		if u.More {
			n += "+"
		}
		summary += " (" + n + ")"
	}
	body := []app.UI{app.Summary().ID("untagged-summary").Text(summary)}
	switch u := p.untagged; {
	case p.untaggedNote != "":
		body = append(body, app.P().Class("hint").ID("untagged-unavailable").Text(p.untaggedNote))
	case p.untaggedErr != "":
		body = append(body, app.P().Class("error-message").Text("Untagged manifests could not be listed: "+p.untaggedErr))
	default:
		source := "Complete: every manifest the registry's storage holds was checked."
		if u.Source == api.UntaggedSeen {
			source = "As seen by Berth: this registry cannot list its manifests, so these are the ones Berth saw pushed or read, each confirmed at the registry just now."
		}
		if u.More {
			source += " More exist than are shown here."
		}
		if u.Withheld == 1 {
			source += " 1 more is not listed: an index Berth has not seen, or a subject it could not check, may still refer to it."
		} else if u.Withheld > 1 {
			source += fmt.Sprintf(" %d more are not listed: an index Berth has not seen, or a subject it could not check, may still refer to them.", u.Withheld)
		}
		body = append(body, app.P().Class("hint").ID("untagged-source").DataSet("source", u.Source).DataSet("withheld", u.Withheld).Text(source+
			" Images of a tagged index, and signatures, SBOMs and attestations of manifests still here, are not listed: they go with what they belong to."))
		if len(u.Manifests) == 0 {
			body = append(body, app.P().Class("muted").ID("untagged-none").Text("No untagged manifests."))
			break
		}
		now := time.Now()
		rows := make([]app.UI, 0, len(u.Manifests))
		for _, m := range u.Manifests {
			kind := m.Kind
			if m.ArtifactType != "" {
				kind += " · " + m.ArtifactType
			}
			created := "—"
			if !m.Created.IsZero() {
				created = ago(m.Created, now)
			}
			rows = append(rows, app.Tr().DataSet("digest", m.Digest).Body(
				app.Td().Class("digest mono").Title(m.Digest).Body(
					app.A().Href(manifestURL(p.name, m.Digest)).Text(shortDigest(m.Digest)),
				),
				app.Td().Class("kind").Title(m.MediaType).Text(kind),
				app.Td().Class("num").Text(humanSize(m.Size)),
				app.Td().Class("created").Text(created),
				app.Td().Class("actions").Body(p.untaggedDelete(u.Repository, m.Digest)),
			))
		}
		body = append(body, app.Div().Class("table-wrap").Body(app.Table().Class("untagged").ID("untagged").Body(
			app.Caption().Class("sr-only").Text("Untagged manifests of "+p.name),
			app.THead().Body(app.Tr().Body(
				app.Th().Text("Digest"), app.Th().Text("Kind"), app.Th().Class("num").Text("Size"), app.Th().Text("Created"),
				app.Th().Class("actions").Body(srOnly("Actions")),
			)),
			app.TBody().Body(rows...),
		)))
	}
	return app.Details().Class("card untagged-panel").ID("untagged-panel").Open(p.untaggedOpen).
		On("toggle", func(ctx app.Context, e app.Event) { p.untaggedOpen = ctx.JSSrc().Get("open").Bool() }).
		Body(body...)
}

// untaggedDelete opens the delete dialog for one untagged manifest of repo; nothing when
// read-only. The dialog opens only while the page still shows repo: a digest listed for one
// repository is never deleted in another.
func (p *repositoryPage) untaggedDelete(repo, digest string) app.UI {
	if !writable() || repo != p.name {
		return nil
	}
	return app.Button().Class("button small danger delete-untagged").Aria("label", "Delete manifest "+digest).Text("Delete").
		OnClick(func(ctx app.Context, e app.Event) {
			if u := p.untagged; u == nil || u.Repository != repo || p.name != repo {
				return
			}
			openDelete(ctx, deleteRequest{
				Repo:    repo,
				Targets: []deleteTarget{{Digest: digest}},
				Opener:  fmt.Sprintf(`#untagged tr[data-digest=%q] .delete-untagged`, digest),
			})
		}, app.EventScope(repo+"@"+digest))
}

// labelQuery splits a "label:name[=value]" filter; ok is false for any other filter.
func labelQuery(filter string) (name, value string, ok bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(filter), "label:")
	if !ok {
		return "", "", false
	}
	name, value, _ = strings.Cut(rest, "=")
	return strings.TrimSpace(name), strings.TrimSpace(value), true
}

// filterByLabel asks the server which tags have the label the filter names, shortly after
// the typing stops; refresh shows only those.
func (p *repositoryPage) filterByLabel(ctx app.Context) {
	name, value, ok := labelQuery(p.filter)
	if !ok || name == "" {
		p.labelFor, p.labeled, p.labelErr = "", nil, ""
		return
	}
	query, repo, gen := p.filter, p.name, p.gen
	ctx = p.home.of(ctx)
	ctx.After(300*time.Millisecond, func(ctx app.Context) {
		if p.filter != query || p.name != repo || p.gen != gen {
			return // typing went on, or the page moved to another repository
		}
		ctx.Async(func() {
			c, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			names, err := apiClient().TagsWithLabel(c, repo, name, value)
			ctx.Dispatch(func(ctx app.Context) {
				if p.filter != query || p.name != repo || p.gen != gen {
					return
				}
				p.labelFor, p.labeled, p.labelErr = query, map[string]bool{}, ""
				if err != nil {
					p.labelErr = err.Error()
				}
				for _, n := range names {
					p.labeled[n] = true
				}
				p.refresh()
				p.loadSeverities(ctx)
			})
		})
	})
}
