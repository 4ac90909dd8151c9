package ops

import (
	"slices"
	"testing"

	"github.com/berth-registry/berth/app/api"
)

func TestTouches(t *testing.T) {
	for _, c := range []struct {
		req  api.JobRequest
		want []string
	}{
		{api.JobRequest{Kind: api.JobDelete, Repository: "a/b", References: []string{"v1", "sha256:abc"}}, []string{"a/b:v1", "a/b@sha256:abc"}},
		{api.JobRequest{Kind: api.JobRetag, Repository: "a/b", Source: "v1", Destination: "v2"}, []string{"a/b:v1", "a/b:v2"}},
		{api.JobRequest{Kind: api.JobCopy, Source: "a/b:v1", Destination: "c/d:v1", DestinationRegistry: "https://elsewhere"}, []string{"a/b:v1"}},
		{api.JobRequest{Kind: api.JobCleanup, Rule: &api.CleanupRule{Repository: "a/b"}}, []string{"a/b"}},
		{api.JobRequest{Kind: api.JobImport, Repository: "a/b"}, []string{"a/b"}},
	} {
		if got := touches(c.req); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.req.Kind, got, c.want)
		}
	}
	many := api.JobRequest{Kind: api.JobDelete, Repository: "a/b", References: make([]string, 50)}
	for i := range many.References {
		many.References[i] = "t"
	}
	if n := len(touches(many)); n != api.MaxTouches {
		t.Errorf("a delete of 50 tags touches %d, want at most %d", n, api.MaxTouches)
	}
}

// TestSees: a job Berth queued of another kind than a write's has no owner to match, not
// even a viewer without a name (anonymous writes): an administrator's only.
func TestSees(t *testing.T) {
	berths, devs := About{Kind: api.JobScan}, About{Kind: api.JobScan, User: "dev"}
	for _, c := range []struct {
		v    viewer
		kind string
		a    About
		want bool
	}{
		{viewer{}, "berth_scan", berths, false},
		{viewer{}, kindOp, About{Kind: api.JobDelete}, true},
		{viewer{name: "dev"}, "berth_scan", devs, true},
		{viewer{name: "eve"}, "berth_scan", devs, false},
		{viewer{name: "admin", admin: true}, "berth_scan", berths, true},
	} {
		if got := c.v.sees(c.kind, c.a); got != c.want {
			t.Errorf("%+v sees %s of %q: %v, want %v", c.v, c.kind, c.a.User, got, c.want)
		}
	}
}
