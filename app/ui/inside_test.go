package ui

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

func TestModeString(t *testing.T) {
	for _, c := range []struct {
		e    api.FileEntry
		want string
	}{
		{api.FileEntry{Type: api.FileRegular, Mode: 0o644}, "-rw-r--r--"},
		{api.FileEntry{Type: api.FileDir, Mode: 0o755}, "drwxr-xr-x"},
		{api.FileEntry{Type: api.FileSymlink, Mode: 0o777}, "lrwxrwxrwx"},
		{api.FileEntry{Type: api.FileRegular, Mode: 0o4755}, "-rwsr-xr-x"},
		{api.FileEntry{Type: api.FileRegular, Mode: 0o2644}, "-rw-r-Sr--"},
		{api.FileEntry{Type: api.FileDir, Mode: 0o1777}, "drwxrwxrwt"},
		{api.FileEntry{Type: api.FileDir, Mode: 0o1776}, "drwxrwxrwT"},
		{api.FileEntry{Type: api.FileWhiteout}, ""},
	} {
		if got := modeString(c.e); got != c.want {
			t.Errorf("modeString(%s %o) = %q, want %q", c.e.Type, c.e.Mode, got, c.want)
		}
	}
}

func TestSplitInside(t *testing.T) {
	for _, c := range []struct{ path, repo, ref string }{
		{"/inside/examples/inside:1.1", "examples/inside", "1.1"},
		{"/inside/team/api/server@sha256:" + hex('a'), "team/api/server", "sha256:" + hex('a')},
		{"/inside/library/alpine:3.21/", "library/alpine", "3.21"},
	} {
		repo, ref := splitInside(c.path)
		if repo != c.repo || ref != c.ref {
			t.Errorf("splitInside(%q) = %q, %q", c.path, repo, ref)
		}
		img := client.Image{Repository: repo, Reference: ref}
		if r2, ref2 := splitInside(insideURL(img, url.Values{})); r2 != repo || ref2 != ref {
			t.Errorf("insideURL(%v) does not parse back: %q %q", img, r2, ref2)
		}
	}
}

func TestFoldIndexEvent(t *testing.T) {
	p := map[int][2]int64{}
	p = foldIndexEvent(p, api.IndexEvent{Type: "progress", Layer: 1, Read: 10, Size: 100})
	p = foldIndexEvent(p, api.IndexEvent{Type: "progress", Layer: 1, Read: 60, Size: 100})
	if p[1] != [2]int64{60, 100} {
		t.Errorf("progress of layer 1: %v", p[1])
	}
	p = foldIndexEvent(p, api.IndexEvent{Type: "layer", Layer: 1, Size: 100, Entries: 5})
	p = foldIndexEvent(p, api.IndexEvent{Type: "done", Layer: 2})
	if p[1] != [2]int64{100, 100} || len(p) != 1 {
		t.Errorf("after the layer is indexed: %v", p)
	}
}

func TestSeverityBatchAsksVisibleRowsOnce(t *testing.T) {
	tags := testTags() // latest and v2 share a digest
	tags = append(tags, api.Tag{Name: "chart", Digest: "sha256:" + hex('c'), Kind: "artifact"})
	var s tagSeverities
	first := s.next(tags, []int{0, 1, 2, 3}, map[int]bool{1: true})
	if !slices.Equal(first, []string{"sha256:" + hex('b')}) {
		t.Errorf("first batch %v: want the shared digest once, not the pending row or the artifact", first)
	}
	second := s.next(tags, []int{0, 1, 2, 3}, map[int]bool{})
	if !slices.Equal(second, []string{"sha256:" + hex('a')}) {
		t.Errorf("second batch %v: want only the row whose details arrived", second)
	}
	if third := s.next(tags, []int{0, 1, 2, 3}, nil); len(third) != 0 {
		t.Errorf("third batch %v: everything was asked", third)
	}
	many := make([]api.Tag, 250)
	rows := make([]int, len(many))
	for i := range many {
		many[i] = api.Tag{Name: fmt.Sprint("t", i), Digest: fmt.Sprintf("sha256:%064x", i), Kind: "image"}
		rows[i] = i
	}
	s.reset()
	if n := len(s.next(many, rows, nil)); n != maxSeverityBatch {
		t.Errorf("a batch holds %d digests, want %d", n, maxSeverityBatch)
	}
}

func TestSeverityText(t *testing.T) {
	for _, c := range []struct {
		s    api.Severities
		want string
	}{
		{api.Severities{}, "not scanned"},
		{api.Severities{Reports: 1}, "no findings"},
		{api.Severities{Reports: 1, Critical: 1, Medium: 2}, "1 critical, 2 medium"},
	} {
		if got := severityText(c.s); got != c.want {
			t.Errorf("severityText(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
}

func TestDiffSwapAndSignedSize(t *testing.T) {
	p := &diffPage{q: client.DiffQuery{From: "a:1", To: "b:2", FromPlatform: "linux/amd64", ToPlatform: "linux/arm64"}}
	if got := p.swapped(); got.From != "b:2" || got.To != "a:1" || got.FromPlatform != "linux/arm64" || got.ToPlatform != "linux/amd64" {
		t.Errorf("swapped: %+v", got)
	}
	if got := diffURL(p.q); got != "/diff?from=a%3A1&fromPlatform=linux%2Famd64&to=b%3A2&toPlatform=linux%2Farm64" {
		t.Errorf("diffURL: %s", got)
	}
	for n, want := range map[int64]string{1500: "+1.5 kB", -300: "−300 B", 0: "±0 B"} {
		if got := signedSize(n); got != want {
			t.Errorf("signedSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestImportErrorSaysWhatToDo(t *testing.T) {
	for status, want := range map[int]string{
		400: "The archive was refused: bad",
		401: "You may not import into this repository: bad Sign in",
		413: "The archive is too large: bad",
	} {
		if got := importError(&api.Error{Status: status, Message: "bad"}); got[:min(len(got), len(want))] != want {
			t.Errorf("status %d: %q, want it to start with %q", status, got, want)
		}
	}
}

func TestWorstFirst(t *testing.T) {
	in := []api.Finding{{ID: "a", Severity: "low"}, {ID: "b", Severity: "critical"}, {ID: "c", Severity: "odd"}, {ID: "d", Severity: "high"}, {ID: "e", Severity: "critical"}}
	var got []string
	for _, f := range worstFirst(in) {
		got = append(got, f.ID)
	}
	if strings.Join(got, "") != "bedac" {
		t.Fatalf("order %v, want b e d a c", got)
	}
	if in[0].ID != "a" {
		t.Fatal("worstFirst reordered its argument")
	}
}
