package ui

import (
	"net/url"
	"testing"

	"github.com/berth-registry/berth/app/api"
)

func TestAdvisoryURL(t *testing.T) {
	for id, want := range map[string]string{
		"CVE-2024-3094":       "https://nvd.nist.gov/vuln/detail/CVE-2024-3094",
		"GHSA-abcd-1234-wxyz": "https://osv.dev/vulnerability/GHSA-abcd-1234-wxyz",
		"DLA-3840-1":          "https://osv.dev/vulnerability/DLA-3840-1",
		"":                    "",
		"CVE-1/../x":          "",
		"a b":                 "",
	} {
		if got := advisoryURL(id); got != want {
			t.Errorf("advisoryURL(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestParseJobsURL(t *testing.T) {
	for raw, want := range map[string]struct {
		id string
		q  api.JobQuery
	}{
		"/jobs":                          {"", api.JobQuery{}},
		"/jobs/42":                       {"42", api.JobQuery{}},
		"/jobs?user=alice&state=running": {"", api.JobQuery{User: "alice", State: "running"}},
		"/jobs/7?state=finished":         {"7", api.JobQuery{State: "finished"}},
	} {
		u, _ := url.Parse(raw)
		if id, q := parseJobsURL(u); id != want.id || q != want.q {
			t.Errorf("%s: %q %+v, want %q %+v", raw, id, q, want.id, want.q)
		}
	}
}
