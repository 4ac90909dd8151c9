// Package redistest starts a real redis-server for tests, shared by the cache's contract
// suite and the packages that keep state in Redis (sessions, sign-in throttling).
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Server is a redis-server process started for one test, on loopback, without persistence.
type Server struct {
	// URL reaches the server: redis://127.0.0.1:PORT/0.
	URL string
	// Cmd is the running process, for tests that pause it (SIGSTOP) to make Redis slow.
	Cmd *exec.Cmd

	exited chan struct{} // closed once the process has exited and been waited for
	once   sync.Once
}

// Kill stops the server and waits for it to exit; later calls do nothing.
func (s *Server) Kill(t testing.TB) {
	s.once.Do(func() {
		if err := s.Cmd.Process.Kill(); err != nil {
			t.Logf("kill redis-server: %v", err)
		}
		<-s.exited
	})
}

// Start runs a throwaway redis-server on a free loopback port and stops it when the test
// ends. Without redis-server the test is skipped, unless BERTH_E2E=1 demands every test run.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("BERTH_E2E") == "1" {
			t.Fatalf("redis-server not found, and BERTH_E2E=1 requires it (apt-get install redis-server): %v", err)
		}
		t.Skipf("redis-server not found (apt-get install redis-server, or set BERTH_E2E=1 to fail instead): %v", err)
	}
	// The port is free when picked but may be taken before redis-server binds it; retry.
	var lastErr error
	for range 3 {
		s, err := tryStart(t, bin)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

func tryStart(t testing.TB, bin string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pick a port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return nil, fmt.Errorf("free port %d: %w", port, err)
	}
	dir := t.TempDir()
	var out lockedBuffer
	cmd := exec.Command(bin, "--save", "", "--appendonly", "no", "--port", strconv.Itoa(port),
		"--bind", "127.0.0.1", "--dir", dir)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	s := &Server{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), Cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.Kill(t) })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		err := ping(addr)
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("redis-server on port %d exited (%v):\n%s", port, err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.Kill(t)
	return nil, fmt.Errorf("redis-server on port %d did not answer PING within a minute:\n%s", port, out.String())
}

// ping sends PING over a raw connection and wants +PONG back.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
