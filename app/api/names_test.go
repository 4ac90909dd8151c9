package api

import (
	"strings"
	"testing"
)

func TestNameProblems(t *testing.T) {
	for _, tc := range []struct {
		repo, tag string
		repoOK    bool
		tagOK     bool
	}{
		{"library/postgres", "16.2-alpine", true, true},
		{"team/api/server", "_build", true, true},
		{"Library/Postgres", ".hidden", false, false},
		{"library/postgres:16", "-dash", false, false},
		{"a//b", "v1:2", false, false},
		{"a__b/c-d.e", strings.Repeat("x", 128), true, true},
		{strings.Repeat("a", 256), strings.Repeat("x", 129), false, false},
	} {
		if got := RepositoryProblem(tc.repo) == ""; got != tc.repoOK {
			t.Errorf("RepositoryProblem(%q) = %q", tc.repo, RepositoryProblem(tc.repo))
		}
		if got := TagProblem(tc.tag) == ""; got != tc.tagOK {
			t.Errorf("TagProblem(%q) = %q", tc.tag, TagProblem(tc.tag))
		}
	}
}

func TestReferrerTags(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for _, tc := range []struct{ tag, kind string }{
		{"sha256-" + hex + ".sig", ReferrerSignature},
		{"sha256-" + hex + ".att", ReferrerAttestation},
		{"sha256-" + hex + ".sbom", ReferrerSBOM},
		{"sha256-" + hex, ReferrerIndex},
		{"sha256-" + hex[:10], ""},
		{"v1.0.0", ""},
	} {
		subject, kind, ok := ReferrerTag(tc.tag)
		if kind != tc.kind || ok != (tc.kind != "") || (ok && subject != "sha256:"+hex) {
			t.Errorf("ReferrerTag(%q) = %q %q %v", tc.tag, subject, kind, ok)
		}
	}
	if images, refs := CountTags([]string{"v1", "latest", "sha256-" + hex, "sha256-" + hex + ".sig"}); images != 2 || refs != 2 {
		t.Errorf("CountTags = %d images, %d referrer tags", images, refs)
	}
}
