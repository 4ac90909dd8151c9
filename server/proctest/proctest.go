// Package proctest runs a test binary's helper test as a process of its own: a replica a
// test can kill (SIGKILL) mid-work, as a crash would.
package proctest

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Start re-executes the test binary running only the test named helper, with env set to
// value (the helper skips without it), and returns what follows prefix on the first line
// of its output that starts with it, and the process. The process is killed when the test
// ends, if not before.
func Start(t testing.TB, helper, env, value, prefix string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.v")
	cmd.Env = append(os.Environ(), env+"="+value)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				lines <- rest
			}
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("%s ended without printing %q", helper, prefix)
		}
		return line, cmd
	case <-time.After(time.Minute):
		t.Fatalf("%s did not print %q in a minute", helper, prefix)
	}
	return "", nil
}
