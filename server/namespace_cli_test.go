package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/server/store"
)

// TestCLINamespacePolicies: berth namespace adds, lists and lifts an immutable rule and sets
// a quota, each change in the audit log.
func TestCLINamespacePolicies(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	as, _ := store.AccountsOf(st)
	if err := as.CreateNamespace(t.Context(), store.Namespace{Name: "team", Kind: store.NamespaceTeam, Owner: "team"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		code, ok := runCommand(append([]string{"namespace", args[0], "--data-dir", dir}, args[1:]...), &out, &errOut)
		if !ok || code != 0 {
			t.Fatalf("berth namespace %v: %d %s", args, code, errOut.String())
		}
		return out.String()
	}
	run("immutable", "add", "team", "v*", "!*-rc*")
	run("immutable", "lift", "team", "1")
	if got := run("immutable", "list", "team"); !strings.Contains(got, "1\tv* !*-rc*\tlifted") {
		t.Fatalf("list: %q", got)
	}
	if got := run("quota", "--storage", "10GB", "--tags", "50", "team"); !strings.Contains(got, "storage limit 10000000000 bytes, tag limit 50") {
		t.Fatalf("quota: %q", got)
	}
	var errOut bytes.Buffer
	if code, _ := runCommand([]string{"namespace", "immutable", "--data-dir", dir, "add", "team", "!only-exclusions"}, new(bytes.Buffer), &errOut); code == 0 || !strings.Contains(errOut.String(), "not an exclusion") {
		t.Fatalf("a rule of exclusions only: %d %q", code, errOut.String())
	}
	st, _ = store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "berth.db"))
	defer st.Close()
	as, _ = store.AccountsOf(st)
	entries, _ := as.Audit(t.Context(), store.AuditFilter{})
	if len(entries) != 3 {
		t.Fatalf("audit: %+v", entries)
	}
}
