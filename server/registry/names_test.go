package registry_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
)

// badNames are names no entry point may send to a registry: path escapes, empty and dot
// components, upper case, over-long, non-ASCII, control characters and encoded slashes.
var badNames = []string{
	"a/../../admin", "..", ".", "a/./b", "a//b", "/a", "a/", "UPPER", "Team/app",
	strings.Repeat("a", 256), strings.Repeat("ab/", 100) + "c" + strings.Repeat("x", 10),
	"caf\u00e9", "a\x00b", "a%2fb", "a%2Fb", "a b", "a\\b", "a:b", "a@b", "-a", "a-", "a__b__", "",
}

func TestValidateRepository(t *testing.T) {
	for _, n := range []string{"a", "library/alpine", "team/app", "a.b/c_d/e-f", "a__b", "a--b", "x/y/z/w", strings.Repeat("a", 255)} {
		if err := registry.ValidateRepository(n); err != nil {
			t.Errorf("%q refused: %v", n, err)
		}
	}
	for _, n := range badNames {
		err := registry.ValidateRepository(n)
		var he *httperr.Error
		if !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.Code != api.CodeNameInvalid {
			t.Errorf("%q: %v, want 400 NAME_INVALID", n, err)
		}
		if he != nil && !utf8.ValidString(he.Message) {
			t.Errorf("%q: message is not valid UTF-8", n)
		}
	}
}

func TestValidateReference(t *testing.T) {
	good := []string{"latest", "v1.2.3", "1.0_beta-2", "A", strings.Repeat("t", 128),
		"sha256:" + strings.Repeat("a", 64)}
	for _, r := range good {
		if err := registry.ValidateReference(r); err != nil {
			t.Errorf("%q refused: %v", r, err)
		}
	}
	bad := map[string]api.Code{
		"":                                  api.CodeTagInvalid,
		".hidden":                           api.CodeTagInvalid,
		"-x":                                api.CodeTagInvalid,
		"a/b":                               api.CodeTagInvalid,
		"../x":                              api.CodeTagInvalid,
		strings.Repeat("t", 129):            api.CodeTagInvalid,
		"t\x00":                             api.CodeTagInvalid,
		"caf\u00e9":                         api.CodeTagInvalid,
		"sha256:abc":                        api.CodeDigestInvalid,
		"sha256:" + strings.Repeat("A", 64): api.CodeDigestInvalid,
		"md5:" + strings.Repeat("a", 32):    api.CodeDigestInvalid,
		"a%2fb":                             api.CodeTagInvalid,
	}
	for r, code := range bad {
		err := registry.ValidateReference(r)
		var he *httperr.Error
		if !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.Code != code {
			t.Errorf("%q: %v, want 400 %s", r, err, code)
		}
	}
}

func TestSplitReference(t *testing.T) {
	for in, want := range map[string][2]string{
		"team/app:v1": {"team/app", "v1"},
		"team/app":    {"team/app", ""},
		"team/app@sha256:" + strings.Repeat("0", 64): {"team/app", "sha256:" + strings.Repeat("0", 64)},
	} {
		repo, ref, err := registry.SplitReference(in)
		if err != nil || repo != want[0] || ref != want[1] {
			t.Errorf("SplitReference(%q) = %q, %q, %v", in, repo, ref, err)
		}
	}
	for _, in := range []string{"a/../../admin/users:v1", "team/app:../x", "team//app:v1", "team/app@sha256:zz", "Team/App:v1"} {
		if _, _, err := registry.SplitReference(in); err == nil {
			t.Errorf("SplitReference(%q) accepted", in)
		}
	}
}

// FuzzValidateRepository checks that whatever the validator accepts is a name no client can
// read as a path escape: no empty, "." or ".." component, lower-case ASCII only, bounded.
func FuzzValidateRepository(f *testing.F) {
	for _, n := range append([]string{"library/alpine", "a.b/c__d"}, badNames...) {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if registry.ValidateRepository(name) != nil {
			return
		}
		if len(name) > registry.MaxNameLength {
			t.Fatalf("accepted %d characters", len(name))
		}
		for _, c := range strings.Split(name, "/") {
			if c == "" || c == "." || c == ".." {
				t.Fatalf("accepted component %q in %q", c, name)
			}
		}
		for _, r := range name {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/", r)) {
				t.Fatalf("accepted %q in %q", r, name)
			}
		}
	})
}

// FuzzSplitReference checks that an accepted reference joins back to what was split.
func FuzzSplitReference(f *testing.F) {
	for _, s := range []string{"team/app:v1", "a@sha256:" + strings.Repeat("a", 64), "a/../b:c", "x:y:z", "@", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		repo, ref, err := registry.SplitReference(s)
		if err != nil {
			return
		}
		if registry.ValidateRepository(repo) != nil {
			t.Fatalf("%q: repository %q accepted but invalid", s, repo)
		}
		if ref != "" && registry.JoinReference(repo, ref) != s {
			t.Fatalf("%q split into %q and %q", s, repo, ref)
		}
	})
}
