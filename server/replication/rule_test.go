package replication

import (
	"testing"

	"github.com/berth-registry/berth/app/api"
)

// TestFilters: globs over names with **, tag globs, whole-tag regular expressions and semver
// ranges together; a rule within one registry never takes its own copies.
func TestFilters(t *testing.T) {
	f, err := compile(api.ReplicationRule{Name: "r", Source: "main", Destination: "main", Prefix: "mirror/", Repositories: "**",
		Tags: "v*", TagRegex: `v\d+\.\d+\.\d+`, SemVer: ">=1.2, <2", Trigger: api.TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	for repo, want := range map[string]bool{"team/app": true, "a": true, "mirror/team/app": false, "mirrors/x": true} {
		if got := f.repository(repo); got != want {
			t.Errorf("repository(%q) = %v", repo, got)
		}
	}
	for tag, want := range map[string]bool{"v1.2.0": true, "v1.9.3": true, "v1.1.0": false, "v2.0.0": false, "v1.2": false, "1.2.0": false, "v1.2.0-x": false} {
		if got := f.tag(tag); got != want {
			t.Errorf("tag(%q) = %v", tag, got)
		}
	}
	if d := f.destination("team/app"); d != "mirror/team/app" {
		t.Errorf("destination: %s", d)
	}
	for _, bad := range []api.ReplicationRule{
		{Name: "x", Source: "main", Destination: "main", Trigger: api.TriggerManual},
		{Name: "x", Source: "a", Destination: "b", Trigger: api.TriggerPush},
		{Name: "x", Source: "main", Destination: "b", Trigger: api.TriggerSchedule, Schedule: "every day"},
		{Name: "x", Source: "main", Destination: "b", Trigger: api.TriggerManual, TagRegex: "("},
		{Name: "x", Source: "main", Destination: "b", Trigger: api.TriggerManual, SemVer: "newest"},
		{Name: "x", Source: "main", Destination: "b", Trigger: api.TriggerManual, Prefix: "Bad Prefix"},
	} {
		if _, err := compile(bad); err == nil {
			t.Errorf("compile(%+v) accepted", bad)
		}
	}
}

// TestLabelFilter: name=value pairs must all hold, a bare name takes any value, and a filter
// that is not one is refused.
func TestLabelFilter(t *testing.T) {
	f, err := compile(api.ReplicationRule{Name: "r", Source: "main", Destination: "b", Trigger: api.TriggerManual,
		Labels: " com.example.team=payments , org.opencontainers.image.source"})
	if err != nil {
		t.Fatal(err)
	}
	src := "org.opencontainers.image.source"
	for i, c := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"com.example.team": "payments", src: "https://git.example.com/x"}, true},
		{map[string]string{"com.example.team": "payments", src: ""}, true},
		{map[string]string{"com.example.team": "search", src: "x"}, false},
		{map[string]string{"com.example.team": "payments"}, false},
		{nil, false},
	} {
		if got := holds(c.labels, f.labels); got != c.want {
			t.Errorf("case %d: holds(%v) = %v", i, c.labels, got)
		}
	}
	if _, err := compile(api.ReplicationRule{Name: "r", Source: "main", Destination: "b", Trigger: api.TriggerManual, Labels: "=x"}); err == nil {
		t.Error("a label filter without a name was accepted")
	}
}
