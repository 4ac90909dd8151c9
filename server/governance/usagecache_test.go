package governance

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

// catalogCounter counts the catalog reads a client makes: one per usage walk.
type catalogCounter struct{ n atomic.Int64 }

func (c *catalogCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/_catalog") {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestQuotaChecksWalkOncePerPeriod: ten pushes checked in a row walk the namespace once, each
// later check counting the pushes admitted before it (so the limit still holds), and a check
// after usageTTL walks again.
func TestQuotaChecksWalkOncePerPeriod(t *testing.T) {
	base := registrytest.Open(t)
	host := strings.TrimPrefix(base, "http://")
	count := &catalogCounter{}
	reg := registrytest.NewClient(t, registry.Options{URL: base, Transport: count})
	now := time.Now()
	s := New(Options{Now: func() time.Time { return now }})
	img, err := random.Image(1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host+"/team/app:base", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	p := policies{namespace: "team", hasQuota: true, quota: store.Quota{Namespace: "team", StorageLimit: 1 << 40}}
	var used []int64
	for i := range 10 {
		m, _ := random.Image(2000, 1)
		raw, _ := m.RawManifest()
		d, _ := m.Digest()
		ch := registry.Change{Repository: "team/app", Ref: "v" + string(rune('0'+i)), Raw: raw, Digest: d.String()}
		if err := s.checkQuota(t.Context(), reg, p, ch, true); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		u, _ := s.usage(t.Context(), reg, "team")
		used = append(used, u.used)
	}
	if n := count.n.Load(); n != 1 {
		t.Errorf("ten checks read the catalog %d times, want once", n)
	}
	for i := 1; i < len(used); i++ {
		if used[i] <= used[i-1] {
			t.Errorf("usage after check %d is %d, not above %d: admitted pushes are not counted", i, used[i], used[i-1])
		}
	}
	now = now.Add(usageTTL)
	if _, err := s.usage(t.Context(), reg, "team"); err != nil || count.n.Load() != 2 {
		t.Errorf("after usageTTL: %d catalog reads (%v), want a second walk", count.n.Load(), err)
	}
}
