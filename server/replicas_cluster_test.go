package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/store/storetest"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// slowBody reads at most perSec bytes a second. It paces by the bytes read so far rather
// than per read: the registry reads a body 32 KiB at a time, whatever the rate.
type slowBody struct {
	r      io.ReadCloser
	perSec int
	start  time.Time
	read   int64
}

func (s *slowBody) Read(p []byte) (int, error) {
	if s.start.IsZero() {
		s.start = time.Now()
	}
	n, err := s.r.Read(p[:min(len(p), s.perSec/20)])
	s.read += int64(n)
	time.Sleep(time.Until(s.start.Add(time.Duration(s.read * int64(time.Second) / int64(s.perSec)))))
	return n, err
}

func (s *slowBody) Close() error { return s.r.Close() }

// cluster is three berth replicas behind a balancer.
type cluster struct {
	lb       string // the balancer's base URL
	direct   []string
	replicas []*proc
	main     string // host:port of the main registry
	slow     string // base URL of the throttled registry
	dsn      string
	ports    []int
}

func startCluster(t testing.TB) *cluster {
	t.Helper()
	haproxy := need(t, "haproxy")
	need(t, "redis-server")
	if !storetest.Available() {
		need(t, "initdb") // skips or fails with the message
	}
	dsn := storetest.StartPostgres(t).NewDatabase(t)
	redis := startRedisServer(t)
	dir := t.TempDir()

	bin := filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build berth: %v\n%s", err, out)
	}
	token := "replica-test-events-token"
	if err := os.WriteFile(filepath.Join(dir, "events-secret"), []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("the cluster secret of the replica test"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cluster{dsn: dsn}
	lbPort := freePort(t)
	c.lb = fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	c.main = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c.slow = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	reg := exec.Command(os.Args[0], "-test.run=^TestHelperRegistries$")
	reg.Env = append(os.Environ(), "BERTH_HELPER_REGISTRIES="+strings.Join([]string{dir, c.main, strings.TrimPrefix(c.slow, "http://"), c.lb + "/events", token}, ","))
	start(t, "registries", reg)

	var servers strings.Builder
	for i := range 3 {
		port := freePort(t)
		c.ports = append(c.ports, port)
		c.direct = append(c.direct, fmt.Sprintf("http://127.0.0.1:%d", port))
		fmt.Fprintf(&servers, "    server r%d 127.0.0.1:%d check inter 500ms fall 1\n", i, port)
	}
	cfg := fmt.Sprintf(`global
    maxconn 512
defaults
    mode http
    timeout connect 5s
    timeout client 5m
    timeout server 5m
    option http-server-close
    # A replica killed with -9 refuses connections: retry those on another one, as a
    # production balancer would, and take it out of the rotation at the next check.
    retries 3
    option redispatch
frontend berth
    bind 127.0.0.1:%d
    default_backend replicas
backend replicas
    balance roundrobin
    http-response set-header X-Replica %%[srv_name]
%s`, lbPort, servers.String())
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, "haproxy", exec.Command(haproxy, "-f", cfgPath, "-db"))

	for i, port := range c.ports {
		cmd := exec.Command(bin,
			"--addr", fmt.Sprintf("127.0.0.1:%d", port),
			"--registry", "http://"+c.main,
			"--data-dir", filepath.Join(dir, fmt.Sprintf("data%d", i)),
			"--database", dsn, "--cache", redis,
			"--secret-file", filepath.Join(dir, "secret"),
			"--events-secret-file", filepath.Join(dir, "events-secret"),
			"--anonymous-writes", "--remote-registries", c.slow,
			"--sync-interval", "2s", "--job-timeout", "12s", "--jobs-retention", "1h",
			"--web-dir", webDir(t), "--log-format", "json",
		)
		c.replicas = append(c.replicas, start(t, fmt.Sprintf("berth r%d", i), cmd))
	}
	for i, u := range c.direct {
		waitFor(t, fmt.Sprintf("replica %d ready", i), time.Minute, func() bool {
			resp, err := http.Get(u + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	return c
}

// startRedisServer runs a throwaway redis-server on a loopback port.
func startRedisServer(t testing.TB) string {
	t.Helper()
	port := freePort(t)
	start(t, "redis", exec.Command(need(t, "redis-server"), "--save", "", "--appendonly", "no",
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir()))
	waitFor(t, "redis", 10*time.Second, func() bool {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port)
}

// call makes one request on a fresh connection (so the balancer picks a replica for each)
// and returns the replica that answered.
func call(t testing.TB, method, url string, body any, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode, resp.Header.Get("X-Replica")
}

// follow reads a job's event stream through url, calling fn per event, until the end.
func follow(t testing.TB, url string, fn func(api.JobEvent)) (last api.JobEvent, replica string) {
	t.Helper()
	// Right after a replica was killed, the balancer may still answer 503 for it once.
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		r, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode != http.StatusServiceUnavailable || attempt == 10 {
			resp = r
			break
		}
		r.Body.Close()
		time.Sleep(300 * time.Millisecond)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var e api.JobEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event %q: %v", sc.Text(), err)
		}
		if fn != nil {
			fn(e)
		}
		last = e
	}
	return last, resp.Header.Get("X-Replica")
}

// pushBig pushes an image with one layer of size bytes to the main registry.
func pushBig(t testing.TB, c *cluster, ref string, size int64) string {
	t.Helper()
	l, err := random.Layer(size, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(c.main+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

// slowTag returns the digest of ref in the throttled registry, or "" when it has none.
func slowTag(t testing.TB, c *cluster, ref string) string {
	t.Helper()
	r, err := name.ParseReference(strings.TrimPrefix(c.slow, "http://")+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r)
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

func (c *cluster) startCopy(t testing.TB, src, dst string) string {
	t.Helper()
	id, _ := c.startJob(t, api.JobRequest{Kind: api.JobCopy, Source: src, Destination: dst, DestinationRegistry: c.slow})
	return id
}

// startJob starts req through the balancer with an Idempotency-Key, sending it again after a
// connection error or a 503 (a replica failing over) as the UI does, and returns the job's
// id and the replica that took it.
func (c *cluster) startJob(t testing.TB, req api.JobRequest) (id, replica string) {
	t.Helper()
	body, _ := json.Marshal(req)
	var key [16]byte
	_, _ = rand.Read(key[:])
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	var last string
	for try := 1; try <= 10; try++ {
		hreq, _ := http.NewRequest(http.MethodPost, c.lb+"/api/v1/jobs", bytes.NewReader(body))
		hreq.Header.Set("Content-Type", "application/json")
		hreq.Header.Set("Idempotency-Key", hex.EncodeToString(key[:]))
		resp, err := hc.Do(hreq)
		if err == nil {
			var started api.JobStarted
			_ = json.NewDecoder(resp.Body).Decode(&started)
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted && started.ID != "" {
				return started.ID, resp.Header.Get("X-Replica")
			}
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("start %+v: %d", req, resp.StatusCode)
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(time.Duration(try) * 200 * time.Millisecond) // the retry's backoff
	}
	t.Fatalf("start %+v: 10 tries failed, the last with %s", req, last)
	return "", ""
}
