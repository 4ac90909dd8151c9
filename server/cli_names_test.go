package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestCLIRefusesBadNames: path escapes, empty components, upper case and encoded separators in
// CLI arguments are refused before anything is sent to the registry.
func TestCLIRefusesBadNames(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	counter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		http.Error(w, "not expected", http.StatusTeapot)
	}))
	t.Cleanup(counter.Close)
	for _, args := range [][]string{
		{"rm", "--registry", counter.URL, "a/../../admin/users:v1"},
		{"rm", "--registry", counter.URL, "team//app:v1"},
		{"rm", "--registry", counter.URL, "Team/App:v1"},
		{"rm", "--registry", counter.URL, "team/app:../v1"},
		{"rm", "--registry", counter.URL, "team/app@sha256:abc"},
		{"cp", "--registry", counter.URL, "a/../b:v1", "c/d:v1"},
		{"cp", "--registry", counter.URL, "team/app:v1", "x%2fy/z:v1"},
		{"cleanup", "--registry", counter.URL, "--repo", "..", "--keep", "1"},
	} {
		var out, errOut bytes.Buffer
		code, ok := runCommand(args, &out, &errOut)
		if !ok || code == 0 {
			t.Errorf("%v: exit %d, want a failure", args, code)
		}
		if !strings.Contains(errOut.String(), "not a valid") {
			t.Errorf("%v: %q does not say what is wrong", args, errOut.String())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 0 {
		t.Errorf("the registry was asked %v", paths)
	}
}
