package contents_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/contents"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestAccess: once alice's requests built the indexes, a caller the registry refuses gets
// nothing from any endpoint — the shared index is never answered before the registry agreed.
func TestAccess(t *testing.T) {
	e := newEnv(t, registrytest.Htpasswd(t, map[string]string{"alice": "secret"}), contents.Limits{})
	alice := remote.WithAuth(&authn.Basic{Username: "alice", Password: "secret"})
	layers := testLayers(t)
	digest := push(t, e.host, "look/inside", "v1", layers, nil, alice)
	ld := layerDigests(t, layers...)
	base := "/api/v1/contents/look/inside/-/image/v1"
	paths := []string{
		base, base + "/index", base + "/layers/" + ld[0], base + "/tree?path=/etc", base + "/tree?q=os",
		base + "/file?path=/etc/os-release", base + "/file?path=/etc/os-release&download=1",
		base + "/supply-chain", "/api/v1/contents/look/inside/-/severities?digest=" + url.QueryEscape(digest),
		"/api/v1/diff?from=look/inside:v1&to=look/inside:v1",
	}
	for _, p := range paths {
		var raw []byte
		if status, eb := e.get(t, "alice", "secret", p, &raw); status != http.StatusOK {
			t.Fatalf("alice: GET %s = %d %+v", p, status, eb)
		}
	}
	for _, who := range [][2]string{{"alice", "wrong"}, {"mallory", "secret"}, {"", ""}} {
		for _, p := range paths {
			var raw []byte
			status, eb := e.get(t, who[0], who[1], p, &raw)
			if status != http.StatusUnauthorized || eb.Error.Code != api.CodeUnauthorized || strings.Contains(string(raw), "os-release") {
				t.Errorf("%q: GET %s = %d %+v %s", who[0], p, status, eb, raw)
			}
		}
	}
}

func TestDiff(t *testing.T) {
	e := newEnv(t, openRegistry(t), contents.Limits{})
	layers := testLayers(t)
	push(t, e.host, "look/inside", "v1", layers[:2], func(c *v1.Config) {
		c.Env = []string{"PATH=/usr/bin", "MODE=old"}
		c.Cmd = []string{"serve"}
		c.ExposedPorts = map[string]struct{}{"80/tcp": {}}
		c.Labels = map[string]string{"version": "1"}
	})
	changed := gzLayer(t, "COPY . /app", file("app/config.yaml", "a: 1\nb: 2\nc: 3\n"), file("app/new", "n"))
	push(t, e.host, "look/other", "v2", []layer{layers[0], changed}, func(c *v1.Config) {
		c.Env = []string{"PATH=/usr/bin", "MODE=new", "EXTRA=1"}
		c.Cmd = []string{"serve", "--fast"}
		c.User = "app"
		c.ExposedPorts = map[string]struct{}{"8080/tcp": {}}
		c.Labels = map[string]string{"version": "2"}
	})
	var d api.ImageDiff
	e.mustGet(t, "/api/v1/diff?from=look/inside:v1&to=look/other:v2", &d)
	if len(d.SharedLayers) != 1 || len(d.AddedLayers) != 1 || len(d.RemovedLayers) != 1 {
		t.Errorf("layers: shared %d added %d removed %d", len(d.SharedLayers), len(d.AddedLayers), len(d.RemovedLayers))
	}
	paths := func(es []api.FileEntry) string {
		var out []string
		for _, e := range es {
			out = append(out, e.Path)
		}
		return strings.Join(out, " ")
	}
	if got := paths(d.Added); got != "/app/new /etc/hosts /usr/share/doc/old /usr/share/doc/old/README" {
		t.Errorf("added = %s", got)
	}
	if got := paths(d.Removed); got != "/usr/share/doc/new.txt" {
		t.Errorf("removed = %s", got)
	}
	if len(d.Changed) != 1 || d.Changed[0].Path != "/app/config.yaml" || d.Changed[0].SizeDelta != 10 {
		t.Errorf("changed = %+v", d.Changed)
	}
	got := map[string]string{}
	for _, c := range d.Config {
		got[c.Field+" "+c.Key] = c.From + " → " + c.To
	}
	want := map[string]string{
		"env MODE": "old → new", "env EXTRA": " → 1", "cmd ": `["serve"] → ["serve", "--fast"]`, "user ": " → app",
		"ports 80/tcp": "80/tcp → ", "ports 8080/tcp": " → 8080/tcp", "labels version": "1 → 2",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("config %s = %q; want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("config changes = %v", got)
	}
	if d.SizeDelta != d.To.Size-d.From.Size || d.From.Size == 0 || d.FilesSizeDelta != d.To.FilesSize-d.From.FilesSize {
		t.Errorf("sizes = %+v / %+v, delta %d", d.From, d.To, d.SizeDelta)
	}
}
