package api

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "12h": 12 * time.Hour, "30m": 30 * time.Minute, "0d": 0} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-3d", "1.5d", "ten days"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

func TestReferences(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct{ s, repo, ref string }{
		{"library/alpine:3.21", "library/alpine", "3.21"},
		{"library/alpine@" + digest, "library/alpine", digest},
		{"team/api/server", "team/api/server", ""},
		{"localhost:5000/app", "localhost:5000/app", ""},
	} {
		repo, ref := SplitReference(tc.s)
		if repo != tc.repo || ref != tc.ref {
			t.Errorf("SplitReference(%q) = %q, %q", tc.s, repo, ref)
		}
		if ref != "" && JoinReference(repo, ref) != tc.s {
			t.Errorf("JoinReference(%q, %q) = %q, want %q", repo, ref, JoinReference(repo, ref), tc.s)
		}
	}
	if ShortDigest(digest) != "abababababab" || ShortDigest("v1") != "v1" {
		t.Errorf("ShortDigest: %q", ShortDigest(digest))
	}
	if HumanSize(999) != "999 B" || HumanSize(1500) != "1.5 kB" || HumanSize(2_500_000_000) != "2.5 GB" {
		t.Errorf("HumanSize: %s %s %s", HumanSize(999), HumanSize(1500), HumanSize(2_500_000_000))
	}
}

func TestCodesHaveStatuses(t *testing.T) {
	for _, s := range []int{400, 401, 403, 404, 429, 502, 503, 504} {
		if c := CodeForStatus(s); c.Status() != s && !(s == 502 && c == CodeRegistryUnavailable) {
			t.Errorf("CodeForStatus(%d) = %s with status %d", s, c, c.Status())
		}
	}
	if CodeForStatus(418) != CodeBadResponse || CodeOffline.Status() != 0 {
		t.Error("client-side codes")
	}
}
