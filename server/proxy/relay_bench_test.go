package proxy_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/time/rate"

	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/proxy"
)

// BenchmarkBlobDirectVsProxy reads the same blob from the registry directly, through Berth's
// proxy, through a naive Go proxy (httputil.ReverseProxy with the default transport) and
// through nginx when it is installed, by one client and by several at once, and reports each
// throughput and its ratio to direct (goal ≥ 0.8). "loopback" serves a 256 MiB blob at full
// speed; "link" puts the registry behind a listener that sends at most 100 MB/s in all, a
// network the proxy has to keep up with rather than a race for the CPU.
// BERTH_BENCH_BLOB_MIB changes the loopback blob's size.
func BenchmarkBlobDirectVsProxy(b *testing.B) {
	mib := 256
	if v, err := strconv.Atoi(os.Getenv("BERTH_BENCH_BLOB_MIB")); err == nil && v > 0 {
		mib = v
	}
	for _, nw := range []struct {
		name    string
		mib     int
		rate    rate.Limit // bytes per second; 0: unlimited
		streams []int
	}{
		{"loopback", mib, 0, []int{1, 8}},
		{"link", 64, 100e6, []int{1, 4}},
	} {
		b.Run(nw.name, func(b *testing.B) {
			up, digest := blobRegistry(b, nw.mib, nw.rate)
			targets := []struct{ name, base string }{
				{"berth", "http://" + serveProxy(b, proxy.Options{Upstream: up})},
				{"naive", naiveProxy(b, up)},
			}
			if base := nginxProxy(b, up); base != "" {
				targets = append(targets, struct{ name, base string }{"nginx", base})
			}
			for _, streams := range nw.streams {
				b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
					benchRelay(b, up.String(), targets, digest, int64(nw.mib)<<20, streams)
				})
			}
		})
	}
}

// benchRelay times streams parallel reads of the blob from direct and every target, rotating
// the order each round so none always runs on a warmer machine.
func benchRelay(b *testing.B, direct string, targets []struct{ name, base string }, digest string, size int64, streams int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	read := func(base string) {
		resp, err := client.Get(base + "/v2/bench/blob/blobs/" + digest)
		if err != nil {
			b.Error(err)
			return
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			b.Errorf("%s: read %d bytes: %v", base, n, err)
		}
	}
	run := func(base string) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for range streams {
			wg.Go(func() { read(base) })
		}
		wg.Wait()
		return time.Since(start)
	}
	bases := []string{direct}
	for _, t := range targets {
		bases = append(bases, t.base)
	}
	for _, base := range bases { // warm the page cache and every connection pool
		run(base)
	}
	took := make([]time.Duration, len(bases))
	b.SetBytes(size * int64(streams))
	b.ResetTimer()
	for i := range b.N {
		for k := range bases {
			j := (i + k) % len(bases)
			took[j] += run(bases[j])
		}
	}
	mb := float64(size) * float64(streams) * float64(b.N) / 1e6
	b.ReportMetric(mb/took[0].Seconds(), "direct_MB/s")
	for k, t := range targets {
		b.ReportMetric(mb/took[k+1].Seconds(), t.name+"_MB/s")
		b.ReportMetric(took[0].Seconds()/took[k+1].Seconds(), t.name+"/direct")
	}
}

// blobRegistry starts a registry holding one random blob of mib MiB in bench/blob, behind a
// listener limited to limit bytes per second when limit > 0, and returns its URL and the
// blob's digest.
func blobRegistry(b *testing.B, mib int, limit rate.Limit) (*url.URL, string) {
	reg, err := embedded.New(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(reg.Handler())
	if limit > 0 {
		srv.Listener = &throttledListener{Listener: srv.Listener, lim: rate.NewLimiter(limit, 256<<10)}
	}
	srv.Start()
	b.Cleanup(func() { srv.Close(); reg.Close() })
	up, _ := url.Parse(srv.URL)
	blob := make([]byte, mib<<20)
	_, _ = rand.NewChaCha8([32]byte{2}).Read(blob)
	layer := static.NewLayer(blob, types.OCILayer)
	digest, _ := layer.Digest()
	repo, _ := name.NewRepository(up.Host+"/bench/blob", name.Insecure)
	if err := remote.WriteLayer(repo, layer); err != nil {
		b.Fatal(err)
	}
	return up, digest.String()
}

// throttledListener is a network link of limited bandwidth without tc: every connection it
// accepts shares one token bucket for what it sends.
type throttledListener struct {
	net.Listener
	lim *rate.Limiter
}

func (l *throttledListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &throttledConn{Conn: c, lim: l.lim}, nil
}

type throttledConn struct {
	net.Conn
	lim *rate.Limiter
}

// Write sends p in steps no larger than the bucket, each once the link has room for it.
func (c *throttledConn) Write(p []byte) (int, error) {
	var n int
	for len(p) > 0 {
		step := min(len(p), c.lim.Burst())
		if err := c.lim.WaitN(context.Background(), step); err != nil {
			return n, err
		}
		k, err := c.Conn.Write(p[:step])
		n += k
		if err != nil {
			return n, err
		}
		p = p[step:]
	}
	return n, nil
}

// naiveProxy serves the simplest Go relay: httputil.ReverseProxy with Go's default transport
// and buffer, what most Go registry UIs put in front of /v2.
func naiveProxy(b *testing.B, up *url.URL) string {
	srv := httptest.NewServer(httputil.NewSingleHostReverseProxy(up))
	b.Cleanup(srv.Close)
	return srv.URL
}

// nginxProxy starts nginx as a reverse proxy to up with the settings registry guides give
// (no request or response buffering to disk), or returns "" when nginx is not installed.
func nginxProxy(b *testing.B, up *url.URL) string {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		b.Log("nginx is not installed: its column is skipped")
		return ""
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := b.TempDir()
	conf := fmt.Sprintf(`worker_processes 1;
error_log %[1]s/error.log;
pid %[1]s/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s;
  uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  upstream registry { server %[2]s; keepalive 64; }
  server {
    listen %[3]s;
    client_max_body_size 0;
    location /v2/ {
      proxy_pass http://registry;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`, dir, up.Host, addr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-g", "daemon off;")
	if err := cmd.Start(); err != nil {
		b.Logf("nginx did not start (%v): its column is skipped", err)
		return ""
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Log("nginx did not listen: its column is skipped")
	return ""
}
