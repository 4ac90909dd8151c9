package ui

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// TestNamesOnlyPageFillsInPlace: a page that came with tag names only keeps its rows by name
// while details arrive (a row never jumps away from the user), asks for the rows in view as
// one range of names, and is sorted newest first once every tag is in; a sort the user picks
// meanwhile is applied at once.
func TestNamesOnlyPageFillsInPlace(t *testing.T) {
	names := api.TagPage{Repository: "team/app", Total: 250}
	for i := range 250 {
		names.Tags = append(names.Tags, api.Tag{Name: fmt.Sprintf("v%03d", i)})
	}
	fresh := func() api.TagPage { c := names; c.Tags = slices.Clone(names.Tags); return c }
	p := &repositoryPage{name: "team/app"}
	p.receiveNamesOnly(fresh())
	if p.sort != byCreated || !p.desc || p.tags[p.view[0]].Name != "v249" {
		t.Fatalf("names only: sorted %s (desc %v), first row %s; want newest first, by name meanwhile", p.sort, p.desc, p.tags[p.view[0]].Name)
	}
	if lo, hi, ok := p.viewRange(0, firstRows); !ok || lo != 150 || hi != 250 {
		t.Fatalf("rows in view: %d–%d (%v), want tags 150–250", lo, hi, ok)
	}
	if p.next != len(p.tags) {
		t.Error("chunks would be asked for in turn besides every tag's answer")
	}

	// Details of some rows arrive: they stay where they are.
	p.tags[200] = api.Tag{Name: "v200", Digest: "sha256:x", Created: time.Now()}
	delete(p.pending, 200)
	p.tagsChanged()
	if p.tags[p.view[0]].Name != "v249" || p.tags[p.view[49]].Name != "v200" {
		t.Errorf("a row with details moved: first %s, 50th %s", p.tags[p.view[0]].Name, p.tags[p.view[49]].Name)
	}
	// Scrolled to rows that have their details: nothing to ask.
	for i := 150; i < 250; i++ {
		delete(p.pending, i)
	}
	if _, _, ok := p.viewRange(0, firstRows); ok {
		t.Error("rows with details asked for again")
	}
	if lo, hi, ok := p.viewRange(100, 140); !ok || lo != 110 || hi != 150 {
		t.Errorf("rows scrolled to: %d–%d (%v), want tags 110–150", lo, hi, ok)
	}

	// Every tag arrives: sorted as chosen, newest first.
	all := names
	all.Tags = slices.Clone(names.Tags)
	for i := range all.Tags {
		all.Tags[i].Created = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(250-i) * time.Hour)
	}
	p.receiveAll(all)
	if p.namesOnly || p.tags[p.view[0]].Name != "v000" {
		t.Errorf("every tag in: first row %s, want v000 (the newest)", p.tags[p.view[0]].Name)
	}

	// A sort chosen while details fill in applies at once, largest first; the name column
	// (the order shown meanwhile, newest name first) turns ascending on a click.
	p.receiveNamesOnly(fresh())
	p.tags[7].Size = 1 << 30
	p.setSort(bySize)(app.Context{}, app.Event{})
	if p.tags[p.view[0]].Name != "v007" || p.namesOnly {
		t.Errorf("sorted by size while details fill in: first row %s, want v007", p.tags[p.view[0]].Name)
	}
	p.receiveNamesOnly(fresh())
	if p.sortedBy() != byName {
		t.Fatalf("names only: rows in order of %s, want the name", p.sortedBy())
	}
	p.setSort(byName)(app.Context{}, app.Event{})
	if p.sort != byName || p.desc || p.tags[p.view[0]].Name != "v000" {
		t.Errorf("name clicked while details fill in: sorted %s (desc %v), first row %s; want v000 first", p.sort, p.desc, p.tags[p.view[0]].Name)
	}

	// Details are merged by name: a row the answer lacks (the tag list changed) gets an
	// error instead of staying blank. Rows that came or failed are not asked for again.
	p.sort = "" // a new visit: newest first, by name meanwhile
	p.receiveNamesOnly(fresh())
	p.merge(0, 3, api.TagPage{Tags: []api.Tag{{Name: "v000", Digest: "sha256:a"}, {Name: "v002", Digest: "sha256:c"}}}, nil)
	if p.tags[0].Digest != "sha256:a" || p.tags[2].Digest != "sha256:c" || p.tags[1].Error == "" || p.pending[1] {
		t.Errorf("merged by name: %+v", p.tags[:3])
	}
	if _, _, ok := p.viewRange(247, 250); ok { // v002, v001, v000: came or failed
		t.Error("rows that came or failed are asked for again")
	}
	p.tags[249].Error, p.tags[248].Error = "429", "429" // pending, each with its retry
	if _, _, ok := p.viewRange(0, 2); ok {
		t.Error("rows waiting for their retry are asked for at once")
	}
	if lo, hi, ok := p.viewRange(0, 3); !ok || lo != 247 || hi != 250 {
		t.Errorf("rows in view with one waiting: %d–%d (%v), want 247–250", lo, hi, ok)
	}
}
