package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/berth-registry/berth/server/registrytest"
)

// cliTerminal is a pseudo-terminal a command runs on, as in a shell: tty is its end, and
// everything written to it is collected from the other.
type cliTerminal struct {
	ptmx, tty *os.File
	mu        sync.Mutex
	buf       bytes.Buffer
	done      chan struct{}
}

func newCLITerminal(t *testing.T) *cliTerminal {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	tm := &cliTerminal{ptmx: ptmx, tty: tty, done: make(chan struct{})}
	go func() {
		defer close(tm.done)
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			tm.mu.Lock()
			tm.buf.Write(b[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { tty.Close(); ptmx.Close() })
	return tm
}

func (tm *cliTerminal) shown() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.buf.String()
}

// output closes the command's end and returns all the terminal showed.
func (tm *cliTerminal) output() string {
	tm.tty.Close()
	<-tm.done
	return tm.shown()
}

// cliAwait polls until ok holds, for at most 10 s.
func cliAwait(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// runOnTerminal runs a command with stdin and stderr on tm, in the background; wait returns
// its exit code and stdout.
func runOnTerminal(tm *cliTerminal, args ...string) (wait func() (int, string)) {
	var out bytes.Buffer
	var code int
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		code, _ = runCommandIO(args, tm.tty, &out, tm.tty)
	}()
	return func() (int, string) { <-ended; return code, out.String() }
}

// cliSlowPatches answers the registry's blob uploads (PATCH) 400 ms late, so bars stay on
// screen while blobs go up.
func cliSlowPatches(t *testing.T, upstream string) string {
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			time.Sleep(400 * time.Millisecond)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestCLIProgressBarsOnTerminal: on a terminal, berth push draws one bar per blob, as docker
// pull does, redrawn in place, in the sizes' one unit system; messages print above them.
func TestCLIProgressBarsOnTerminal(t *testing.T) {
	reg := cliSlowPatches(t, registrytest.Open(t))
	img, err := random.Image(256<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "app.tar")
	tag, _ := name.NewTag("example.com/app:one")
	if err := tarball.WriteToFile(file, tag, img); err != nil {
		t.Fatal(err)
	}
	tm := newCLITerminal(t)
	code, out := runOnTerminal(tm, "push", file, "bars/app:one", "--registry", reg)()
	shown := tm.output()
	if code != 0 || !strings.Contains(out, "bars/app:one (1 manifest, 3 blobs, ") {
		t.Fatalf("push: exit %d, stdout %q\n%q", code, out, shown)
	}
	layers, _ := img.Layers()
	cfg, _ := img.ConfigName()
	ids := []string{shortID(cfg.String())}
	for _, l := range layers {
		d, _ := l.Digest()
		ids = append(ids, shortID(d.String()))
	}
	for _, id := range ids {
		if !regexp.MustCompile(id + `: Pushing +\[[= >]{10,}\] *\d+(\.\d)? [kM]?B / \d+(\.\d)? [kM]?B`).MatchString(shown) {
			t.Errorf("no bar for blob %s while it went up:\n%q", id, shown)
		}
		if !regexp.MustCompile(id + `: Pushed +\d+(\.\d)? [kM]?B`).MatchString(shown) {
			t.Errorf("blob %s is not shown as pushed:\n%q", id, shown)
		}
	}
	if !strings.Contains(shown, "\x1b[") {
		t.Errorf("the bars are not redrawn in place:\n%q", shown)
	}
	if !strings.Contains(shown, "1 manifest and 3 blobs (") || strings.Contains(shown, "bytes") {
		t.Errorf("the plan is not said in plurals and one unit:\n%q", shown)
	}
}

// TestCLIUserAddPromptsOnTerminal: the password is asked twice on the terminal and not
// echoed.
func TestCLIUserAddPromptsOnTerminal(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	tm := newCLITerminal(t)
	wait := runOnTerminal(tm, "user", "add", "carol", "--data-dir", data)
	const pw = "a terminal password"
	for _, prompt := range []string{"Password for carol: ", "Again: "} {
		cliAwait(t, "the prompt "+prompt, func() bool { return strings.Contains(tm.shown(), prompt) && !ttyEchoes(t, tm.tty) })
		if _, err := tm.ptmx.WriteString(pw + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	code, out := wait()
	shown := tm.output()
	if code != 0 || !strings.Contains(out, "user carol created") {
		t.Fatalf("user add: exit %d, %q\n%q", code, out, shown)
	}
	if strings.Contains(shown, pw) {
		t.Errorf("the password was echoed:\n%q", shown)
	}
}

// ttyEchoes reports whether the terminal echoes input; term.ReadPassword turns it off.
func ttyEchoes(t *testing.T, tty *os.File) bool {
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ECHO != 0
}

// TestCLICleanupAsksOnTerminal: a rule that would empty a repository asks on the terminal,
// and deletes on "y".
func TestCLICleanupAsksOnTerminal(t *testing.T) {
	reg := registrytest.Open(t)
	cliPushTags(t, reg, "team/app", "latest", "v1")
	tm := newCLITerminal(t)
	wait := runOnTerminal(tm, "cleanup", "--registry", reg, "--repo", "team/app", "--include", ".")
	cliAwait(t, "the question", func() bool { return strings.Contains(tm.shown(), "[y/N]") })
	if _, err := tm.ptmx.WriteString("y\n"); err != nil {
		t.Fatal(err)
	}
	code, out := wait()
	shown := tm.output()
	if code != 0 || !strings.Contains(out, "deleted team/app:latest") || !strings.Contains(out, "deleted team/app:v1") {
		t.Fatalf("cleanup: exit %d, %q\n%q", code, out, shown)
	}
	if !strings.Contains(shown, "warning: this rule deletes every tag of team/app (2 tags, latest included)") {
		t.Errorf("no warning before the question:\n%q", shown)
	}
}
