package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestTagRowsRoundTrip: a page written in rows reads back as the JSON answer reads, with
// awkward strings (tabs, line ends, backslashes) in every free-text field.
func TestTagRowsRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC)
	page := TagPage{Repository: "team/app", Total: 3, Limit: 3, PullHost: "registry.example:5000", Tags: []Tag{
		{Name: "v1", Digest: "sha256:aa", MediaType: "application/vnd.oci.image.index.v1+json", Kind: "index", Size: 42,
			Created: at, Pushed: at.Add(time.Hour), Attestations: 2, Referrers: 1, Severity: "critical", FixableCritical: 3,
			ArtifactType: "x", Error: "partly read", Platforms: []Platform{
				{OS: "linux", Architecture: "arm", Variant: "v7", Digest: "sha256:bb", Size: 20, Created: at},
				{OS: "linux", Architecture: "amd64", Digest: "sha256:cc", Size: 22},
			}},
		{Name: "broken", Error: "registry said:\t\"no\"\nline two \\ and \\t literally\r"},
		{Name: "chart", Kind: "artifact", ArtifactType: "application/vnd.cncf.helm.config.v1+json\twith tab"},
	}}
	// The first tag sets every field, so a field added to Tag but not to the rows fails here.
	v := reflect.ValueOf(page.Tags[0])
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("the test's first tag leaves %s unset", v.Type().Field(i).Name)
		}
	}
	var buf bytes.Buffer
	if err := WriteTagRows(&buf, page); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTagRows(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(page)
	var viaJSON TagPage
	if err := json.Unmarshal(want, &viaJSON); err != nil {
		t.Fatal(err)
	}
	// Times come back in local time: compare them in UTC, as JSON writes them.
	for _, p := range []*TagPage{&got, &viaJSON} {
		for i := range p.Tags {
			tg := &p.Tags[i]
			tg.Created, tg.Pushed = tg.Created.UTC(), tg.Pushed.UTC()
			for k := range tg.Platforms {
				tg.Platforms[k].Created = tg.Platforms[k].Created.UTC()
			}
		}
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(viaJSON)
	if !bytes.Equal(a, b) {
		t.Fatalf("rows read back as\n%s\nwant\n%s", a, b)
	}
	if _, err := ReadTagRows([]byte("{}\nv1\tsha256:aa\n")); err == nil {
		t.Error("a short line was accepted")
	}
}
