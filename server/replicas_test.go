package main

import (
	"bufio"
	"bytes"
	"context"
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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/jackc/pgx/v5"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/store/storetest"
)

// The multi-replica test runs the real thing: three berth processes (built once) on one
// PostgreSQL and one Redis, behind HAProxy balancing round robin without stickiness, in
// front of registries served by a process of their own (this test binary re-executed).

// need skips (or, with BERTH_E2E=1, fails) when a binary is missing.
func need(t testing.TB, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		p = "/usr/sbin/" + bin
		if _, err2 := os.Stat(p); err2 != nil {
			if os.Getenv("BERTH_E2E") == "1" {
				t.Fatalf("%s not found, and BERTH_E2E=1 requires it: %v", bin, err)
			}
			t.Skipf("%s not found (apt-get install %s; BERTH_E2E=1 fails instead): %v", bin, bin, err)
		}
	}
	return p
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a process started for a test.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
}

func start(t testing.TB, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, out: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(p.out.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHelperRegistries is not a test: re-executed with BERTH_HELPER_REGISTRIES set, it serves
// the main registry (notifying BERTH_HELPER_NOTIFY) and a second one whose uploads are
// throttled, the destination of slow copies, until killed.
func TestHelperRegistries(t *testing.T) {
	spec := os.Getenv("BERTH_HELPER_REGISTRIES")
	if spec == "" {
		t.Skip("helper process for TestReplicas")
	}
	parts := strings.Split(spec, ",") // dir,mainAddr,slowAddr,notifyURL,token
	ctx := context.Background()
	main, err := embedded.New(ctx, filepath.Join(parts[0], "main"),
		embedded.WithNotifications("berth", parts[3], http.Header{"Authorization": {"Bearer " + parts[4]}}, 5*time.Second, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := embedded.New(ctx, filepath.Join(parts[0], "slow"))
	if err != nil {
		t.Fatal(err)
	}
	throttle := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch || r.Method == http.MethodPut {
				r.Body = &slowBody{r: r.Body, perSec: 4 << 20}
			}
			next.ServeHTTP(w, r)
		})
	}
	errc := make(chan error, 2)
	go func() { errc <- http.ListenAndServe(parts[1], main.Handler()) }()
	go func() { errc <- http.ListenAndServe(parts[2], throttle(slow.Handler())) }()
	t.Fatal(<-errc)
}

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

func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, Redis, HAProxy and four processes")
	}
	c := startCluster(t)

	t.Run("copy followed across replicas", func(t *testing.T) {
		digest := pushBig(t, c, "team/app:v1", 2<<20)
		// Round robin usually sends the stream to another replica than the start; other
		// requests can interleave, so a few tries make sure one crosses replicas.
		var started api.JobStarted
		var startedOn, followedOn string
		for attempt := 0; attempt < 5 && (attempt == 0 || startedOn == followedOn); attempt++ {
			started = api.JobStarted{}
			started.ID, startedOn = c.startJob(t, api.JobRequest{Kind: api.JobCopy, Source: "team/app:v1", Destination: "team/app:v1", DestinationRegistry: c.slow})
			var progress int
			var last api.JobEvent
			last, followedOn = follow(t, c.lb+"/api/v1/jobs/"+started.ID+"/events", func(e api.JobEvent) {
				if e.Type == api.EventProgress {
					progress++
				}
			})
			if last.State != api.JobSucceeded || (attempt == 0 && progress == 0) {
				t.Fatalf("final %+v after %d progress events", last, progress)
			}
		}
		if startedOn == followedOn {
			t.Errorf("start and stream both on %s in five tries: the balancer did not spread them", startedOn)
		}
		// Every replica answers the job's status.
		for i, u := range c.direct {
			var j api.Job
			if status, _ := call(t, http.MethodGet, u+"/api/v1/jobs/"+started.ID, nil, &j); status != http.StatusOK || j.State != api.JobSucceeded {
				t.Errorf("replica %d: %d %+v", i, status, j)
			}
		}
		if got := slowTag(t, c, "team/app:v1"); got != digest {
			t.Fatalf("copied tag %q, want %s", got, digest)
		}
	})

	t.Run("cancel from another replica", func(t *testing.T) {
		pushBig(t, c, "team/big:v1", 24<<20)
		id := c.startCopy(t, "team/big:v1", "team/big:v1")
		// Wait for bytes to move, then cancel through the balancer.
		waitFor(t, "upload progress", 30*time.Second, func() bool {
			var j api.Job
			call(t, http.MethodGet, c.lb+"/api/v1/jobs/"+id, nil, &j)
			return j.Done > 0
		})
		var j api.Job
		if status, _ := call(t, http.MethodDelete, c.lb+"/api/v1/jobs/"+id, nil, &j); status != http.StatusAccepted {
			t.Fatalf("cancel: %d", status)
		}
		last, _ := follow(t, c.lb+"/api/v1/jobs/"+id+"/events", nil)
		if last.State != api.JobCancelled {
			t.Fatalf("final %+v, want cancelled", last)
		}
		if got := slowTag(t, c, "team/big:v1"); got != "" {
			t.Fatalf("a cancelled copy left the tag at %s", got)
		}
	})

	t.Run("kill -9 of the replica running a job", func(t *testing.T) {
		// 16 MiB take 4 s at the throttled 4 MiB/s: time to kill the copy mid-blob, and well
		// within --job-timeout for the attempt that resumes it.
		digest := pushBig(t, c, "team/crash:v1", 16<<20)
		id := c.startCopy(t, "team/crash:v1", "team/crash:v1")
		var victim *proc
		waitFor(t, "a replica to run the job", 30*time.Second, func() bool {
			for _, p := range c.replicas {
				if strings.Contains(p.out.String(), `"msg":"job started","job":`+id+`,`) {
					victim = p
					return true
				}
			}
			return false
		})
		waitFor(t, "upload progress", 30*time.Second, func() bool {
			var j api.Job
			call(t, http.MethodGet, c.lb+"/api/v1/jobs/"+id, nil, &j)
			return j.Done > 1<<20
		})
		if err := victim.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-victim.exited
		killed := time.Now()
		t.Logf("killed %s mid-job", victim.name)
		if got := slowTag(t, c, "team/crash:v1"); got != "" {
			t.Fatalf("the tag exists right after the crash: %s", got)
		}
		// A survivor takes it over: River's rescuer (every 30 s, on the leader, which may have
		// to be elected again if the victim was it) finds the job running for longer than
		// --job-timeout + 10 s, makes it retryable, and the copy starts over.
		var j api.Job
		waitFor(t, "the job to end on another replica", 3*time.Minute, func() bool {
			j = api.Job{}
			call(t, http.MethodGet, c.lb+"/api/v1/jobs/"+id, nil, &j)
			return j.State != "" && j.State != api.JobRunning
		})
		var events []api.JobEvent
		last, _ := follow(t, c.lb+"/api/v1/jobs/"+id+"/events", func(e api.JobEvent) { events = append(events, e) })
		got := slowTag(t, c, "team/crash:v1")
		if j.State != api.JobSucceeded || last.State != api.JobSucceeded || got != digest {
			t.Fatalf("after the crash: %s %q, stream ended with %+v, tag %q (want succeeded and %s); events %+v", j.State, j.Error, last, got, digest, events)
		}
		// The stream tells the story: bytes moved on the first attempt, the resume says why,
		// and the sequence runs on without gaps.
		resumedAt := -1
		for i, e := range events {
			if e.Seq != i+1 {
				t.Fatalf("event %d has seq %d: %+v", i, e.Seq, events)
			}
			if e.Type == api.EventMessage && strings.Contains(e.Message, "Resumed on another replica after a crash (attempt 2 of 3)") {
				resumedAt = i
			}
		}
		if resumedAt < 0 {
			t.Fatalf("no resume event in %+v", events)
		}
		progressBefore := false
		for _, e := range events[:resumedAt] {
			progressBefore = progressBefore || (e.Type == api.EventProgress && e.Done > 0)
		}
		if !progressBefore {
			t.Errorf("no progress before the resume: %+v", events[:resumedAt])
		}
		t.Logf("resumed and succeeded %s after the crash", time.Since(killed).Round(time.Second))
	})

	t.Run("notifications recorded once", func(t *testing.T) {
		digest := pushBig(t, c, "team/notified:v1", 1024)
		var list api.EventPage
		waitFor(t, "the push event", 30*time.Second, func() bool {
			list = api.EventPage{}
			call(t, http.MethodGet, c.lb+"/api/v1/events?repository=team/notified&action=push", nil, &list)
			return len(list.Events) > 0
		})
		// Give later deliveries (retries, other replicas' syncs) a chance to duplicate it:
		// wait for two more syncs to run.
		waitSyncs(t, c, 2)
		list = api.EventPage{}
		call(t, http.MethodGet, c.lb+"/api/v1/events?repository=team/notified&action=push", nil, &list)
		n := 0
		for _, e := range list.Events {
			if e.Digest == digest && e.Tag == "v1" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d push events for team/notified:v1, want 1: %+v", n, list.Events)
		}
	})

	t.Run("each periodic job once per period", func(t *testing.T) {
		waitSyncs(t, c, 3)
		conn, err := pgx.Connect(t.Context(), c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		rows, err := conn.Query(t.Context(), `SELECT args->>'name', unique_key IS NOT NULL, created_at FROM river_job WHERE kind = 'berth_periodic' ORDER BY created_at`)
		if err != nil {
			t.Fatal(err)
		}
		perPeriod := map[string]int{}
		var syncs int
		for rows.Next() {
			var name string
			var unique bool
			var at time.Time
			if err := rows.Scan(&name, &unique, &at); err != nil {
				t.Fatal(err)
			}
			if !unique {
				t.Errorf("periodic job %s at %s has no unique key", name, at)
			}
			if name == "sync" {
				syncs++
				perPeriod[at.Truncate(2*time.Second).String()]++
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		for p, n := range perPeriod {
			if n > 1 {
				t.Errorf("sync ran %d times in the period from %s", n, p)
			}
		}
		// Runs counted by the replicas themselves match the rows: nobody ran one twice.
		runs := 0
		for _, u := range c.direct {
			runs += syncRuns(u)
		}
		if syncs == 0 || runs > syncs {
			t.Fatalf("%d sync runs on the replicas for %d periodic jobs", runs, syncs)
		}
	})
}

// waitSyncs waits until n more sync runs completed over the live replicas.
func waitSyncs(t testing.TB, c *cluster, n int) {
	t.Helper()
	count := func() int {
		total := 0
		for _, u := range c.direct {
			total += syncRuns(u)
		}
		return total
	}
	from := count()
	waitFor(t, fmt.Sprintf("%d syncs", n), time.Minute, func() bool { return count() >= from+n })
}

// syncRuns reads berth_sync_runs_total from a replica's /metrics (0 when it is down).
func syncRuns(base string) int {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	total := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "berth_sync_runs_total{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += int(v)
		}
	}
	return total
}
