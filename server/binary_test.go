package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/berth-registry/berth/web"
)

// TestBinaryIsSelfContained builds bin/berth as make build does and runs it alone in an empty
// directory: the UI, app.wasm (brotli) and the demo catalog must come out of the binary
// itself, and so must a static export.
func TestBinaryIsSelfContained(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server binary")
	}
	wasmDir := webDir(t) // app.wasm built and compressed, as make wasm leaves them
	build, err := web.ReadBuild(os.DirFS(wasmDir))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "berth")
	// No -trimpath: the packages then come out of the build cache the test itself filled.
	cmd := exec.Command("go", "build", "-ldflags=-X main.version=selftest", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// Only the binary, in a directory of its own, with no web/ to fall back on.
	dir := t.TempDir()
	copyExecutable(t, bin, filepath.Join(dir, "berth"))
	berth := filepath.Join(dir, "berth")

	base := startBinary(t, berth, dir)

	t.Run("page", func(t *testing.T) {
		body, resp := fetch(t, base+"/", "")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Berth</title>") || !strings.Contains(body, "/web/berth.css") {
			t.Errorf("GET /: status %d, body %.300q", resp.StatusCode, body)
		}
		css, resp := fetch(t, base+"/web/berth.css", "")
		if resp.StatusCode != http.StatusOK || len(css) == 0 {
			t.Errorf("GET /web/berth.css: status %d, %d bytes", resp.StatusCode, len(css))
		}
	})
	t.Run("app.wasm", func(t *testing.T) {
		body, resp := fetch(t, base+"/web/app.wasm", "gzip, deflate, br")
		if enc := resp.Header.Get("Content-Encoding"); resp.StatusCode != http.StatusOK || enc != "br" {
			t.Fatalf("GET /web/app.wasm: status %d, Content-Encoding %q, want br", resp.StatusCode, enc)
		}
		plain, err := io.ReadAll(brotli.NewReader(strings.NewReader(body)))
		if err != nil || int64(len(plain)) != build.Size || !bytes.HasPrefix(plain, []byte("\x00asm")) {
			t.Errorf("app.wasm decodes to %d bytes (err %v), want the %d-byte wasm module", len(plain), err, build.Size)
		}
	})
	t.Run("catalog", func(t *testing.T) {
		body, resp := fetch(t, base+"/api/v1/repositories", "")
		var page struct {
			Repositories []struct{ Name string } `json:"repositories"`
		}
		if err := json.Unmarshal([]byte(body), &page); resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("GET /api/v1/repositories: status %d, %v: %.300q", resp.StatusCode, err, body)
		}
		names := map[string]bool{}
		for _, r := range page.Repositories {
			names[r.Name] = true
		}
		if !names["library/alpine"] || !names["team/api/server"] {
			t.Errorf("demo catalog: %v", names)
		}
	})
	t.Run("export", func(t *testing.T) {
		cmd := exec.Command(berth, "export", "site", "--api-url", base)
		cmd.Dir, cmd.Env = dir, berthFreeEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("berth export: %v\n%s", err, out)
		}
		for _, name := range []string{"index.html", "app.js", "app-worker.js", "manifest.webmanifest", "web/berth.css", "web/icon-192.png", "web/app.wasm", "web/app.wasm.br", "web/app.wasm.gz"} {
			if fi, err := os.Stat(filepath.Join(dir, "site", name)); err != nil || fi.Size() == 0 {
				t.Errorf("export wrote no %s: %v", name, err)
			}
		}
		if fi, err := os.Stat(filepath.Join(dir, "site", "web", "app.wasm")); err == nil && fi.Size() != build.Size {
			t.Errorf("exported app.wasm has %d bytes, want %d", fi.Size(), build.Size)
		}
	})
}

// startBinary starts berth in dir with the embedded registry and demo content on random
// loopback ports, and returns the UI's URL once it says it is running. The process is
// interrupted, and must exit cleanly, when the test ends.
func startBinary(t *testing.T, berth, dir string) string {
	t.Helper()
	cmd := exec.Command(berth, "--addr", "127.0.0.1:0", "--embedded-addr", "off", "--log-format", "json")
	cmd.Dir, cmd.Env = dir, berthFreeEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	var logs bytes.Buffer // read only after done
	var waitErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			var line struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && strings.HasPrefix(line.Msg, "Berth is running") {
				urls <- line.URL
			}
		}
		waitErr = cmd.Wait()
	}()
	stop := func() error {
		select {
		case <-done:
			return nil // exited already: reported where it was noticed
		default:
		}
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
			return waitErr
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			return errors.New("berth did not stop within 30 s of an interrupt")
		}
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stopping berth: %v\n%s", err, logs.String())
		}
	})
	select {
	case u := <-urls:
		return u
	case <-done:
		t.Fatalf("berth exited before it was ready: %v\n%s", waitErr, logs.String())
	case <-time.After(90 * time.Second):
		err := stop()
		t.Fatalf("berth was not ready within 90 s (%v)\n%s", err, logs.String())
	}
	return ""
}

// berthFreeEnv is the environment without BERTH_* variables, so the binary runs on its
// defaults (no --web-dir from the developer's shell).
func berthFreeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			env = append(env, kv)
		}
	}
	return env
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// fetch GETs url with an explicit Accept-Encoding ("" asks for none) and returns the body as
// sent, undecoded.
func fetch(t *testing.T, url, acceptEncoding string) (string, *http.Response) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", acceptEncoding)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp
}
