package replication

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registrytest"
)

// benchImages and benchPlatforms are the size of the replicated set.
const benchImages, benchPlatforms = 100, 3

// pushBenchSet pushes benchImages indexes of benchPlatforms images each to base, one per
// repository (bench/app-NN:v1); every platform's image has that platform's base layer
// (shared by all images) and a layer of its own. It returns the repositories and the sum of
// the distinct blobs' sizes (layers and configs, each once).
func pushBenchSet(b *testing.B, base string) ([]string, int64) {
	b.Helper()
	arches := []string{"amd64", "arm64", "s390x"}[:benchPlatforms]
	distinct := map[v1.Hash]int64{}
	bases := make([]v1.Layer, len(arches))
	for i := range bases {
		l, err := random.Layer(512<<10, types.DockerLayer)
		if err != nil {
			b.Fatal(err)
		}
		bases[i] = l
	}
	var repos []string
	for n := range benchImages {
		var adds []mutate.IndexAddendum
		for i, arch := range arches {
			own, err := random.Layer(8<<10, types.DockerLayer)
			if err != nil {
				b.Fatal(err)
			}
			img, err := mutate.AppendLayers(empty.Image, bases[i], own)
			if err != nil {
				b.Fatal(err)
			}
			cf, _ := img.ConfigFile()
			cf.OS, cf.Architecture = "linux", arch
			if img, err = mutate.ConfigFile(img, cf); err != nil {
				b.Fatal(err)
			}
			m, _ := img.Manifest()
			for _, d := range append(m.Layers, m.Config) {
				distinct[d.Digest] = d.Size
			}
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
		}
		repo := fmt.Sprintf("bench/app-%02d", n)
		idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
		if err := remote.WriteIndex(parse(b, base, repo+":v1"), idx); err != nil {
			b.Fatal(err)
		}
		repos = append(repos, repo)
	}
	var sum int64
	for _, n := range distinct {
		sum += n
	}
	return repos, sum
}

// uploadCounter counts the blob bytes a registry receives (upload PATCH and PUT bodies).
type uploadCounter struct{ n atomic.Int64 }

func (c *uploadCounter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/uploads/") && r.Body != nil {
			r.Body = countingBody{r.Body, &c.n}
		}
		next.ServeHTTP(w, r)
	})
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// BenchmarkReplication replicates 100 multi-platform images (3 platforms sharing their base
// layers) from the main registry to an empty distribution 3 with one rule, and the same set
// with a sequential `skopeo copy --all` loop into another, in the same run: the bytes each
// uploads against the sum of the distinct blobs (shared ones once), and Berth's time
// against skopeo's.
func BenchmarkReplication(b *testing.B) {
	h := newHarness(b)
	repos, distinct := pushBenchSet(b, h.main)
	skopeo, _ := exec.LookPath("skopeo")
	if skopeo == "" {
		b.Log("skopeo is not installed: no skopeo column")
	}
	var berthTime, skopeoTime time.Duration
	var berthBytes, skopeoBytes int64
	for i := range b.N {
		b.StopTimer()
		var count uploadCounter
		dst := registrytest.Wrapped(b, count.wrap)
		name := fmt.Sprintf("dst%d", i)
		if err := h.s.AddEndpoint(h.ctx, api.RegistryEndpoint{Name: name, URL: dst.URL}); err != nil {
			b.Fatal(err)
		}
		rule := h.rule(b, api.ReplicationRule{Name: name, Source: api.MainRegistry, Destination: name, Repositories: "bench/**", Trigger: api.TriggerManual})
		b.StartTimer()
		start := time.Now()
		run := h.run(b, rule.ID, false)
		berthTime += time.Since(start)
		b.StopTimer()
		if run.State != api.RunSucceeded || run.Copied != benchImages {
			b.Fatalf("run: %s, %d copied, %d failed: %s", run.State, run.Copied, run.Failed, run.Error)
		}
		berthBytes += count.n.Load()
		if skopeo != "" {
			t, n := skopeoLoop(b, skopeo, h.main, repos)
			skopeoTime, skopeoBytes = skopeoTime+t, skopeoBytes+n
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(berthBytes)/float64(b.N)/float64(distinct), "bytes_x_vs_distinct")
	b.ReportMetric(float64(distinct)/(1<<20), "distinct_MiB")
	b.ReportMetric(float64(berthTime.Milliseconds())/float64(b.N), "ms/run")
	if skopeo != "" {
		b.ReportMetric(float64(skopeoBytes)/float64(b.N)/float64(distinct), "skopeo_bytes_x_vs_distinct")
		b.ReportMetric(float64(berthTime)/float64(skopeoTime), "time_x_vs_skopeo")
	}
}

// skopeoLoop copies every repository's v1 with `skopeo copy --all`, one after another, into
// a new registry, and returns the time taken and the blob bytes uploaded.
func skopeoLoop(b *testing.B, skopeo, src string, repos []string) (time.Duration, int64) {
	b.Helper()
	var count uploadCounter
	dst := registrytest.Wrapped(b, count.wrap)
	home := b.TempDir() // skopeo's blob cache, empty
	start := time.Now()
	for _, repo := range repos {
		cmd := exec.Command(skopeo, "copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
			"docker://"+strings.TrimPrefix(src, "http://")+"/"+repo+":v1", "docker://"+dst.Host+"/"+repo+":v1")
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+home, "XDG_CONFIG_HOME="+home)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("skopeo copy %s: %v\n%s", repo, err, out)
		}
	}
	return time.Since(start), count.n.Load()
}
