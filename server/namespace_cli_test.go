package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/server/store"
)

// TestCLINamespacePolicies: berth namespace adds, lists and lifts an immutable rule and sets
// a quota and a pull policy, each change in the audit log.
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
	if got := run("pull-policy", "team"); !strings.Contains(got, "the global default") {
		t.Fatalf("pull-policy before: %q", got)
	}
	if got := run("pull-policy", "--severity", "critical", "--signed", "team"); got != "namespace team: no finding at or above critical, a cosign signature required\n" {
		t.Fatalf("pull-policy: %q", got)
	}
	var errOut bytes.Buffer
	if code, _ := runCommand([]string{"namespace", "immutable", "--data-dir", dir, "add", "team", "!only-exclusions"}, new(bytes.Buffer), &errOut); code == 0 || !strings.Contains(errOut.String(), "not an exclusion") {
		t.Fatalf("a rule of exclusions only: %d %q", code, errOut.String())
	}
	st, _ = store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "berth.db"))
	defer st.Close()
	as, _ = store.AccountsOf(st)
	entries, _ := as.Audit(t.Context(), store.AuditFilter{})
	if len(entries) != 4 {
		t.Fatalf("audit: %+v", entries)
	}
}

// TestCLINamespaceAutomation: berth namespace adds, lists and removes a webhook (its secret
// shown once, a host outside --webhook-hosts refused) and a retention policy, each change
// in the audit log.
func TestCLINamespaceAutomation(t *testing.T) {
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
	run := func(args ...string) (string, string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		code, _ := runCommand(append([]string{"namespace", args[0], "--data-dir", dir, "--webhook-hosts", "127.0.0.1:9"}, args[1:]...), &out, &errOut)
		return out.String(), errOut.String(), code
	}
	must := func(args ...string) string {
		t.Helper()
		out, errOut, code := run(args...)
		if code != 0 {
			t.Fatalf("berth namespace %v: %d %s", args, code, errOut)
		}
		return out
	}
	out := must("webhook", "--events", "push,job.failed", "add", "team", "http://127.0.0.1:9/hook")
	id, _, _ := strings.Cut(strings.TrimPrefix(out, "webhook "), " ")
	if !strings.Contains(out, "signing secret (shown once): ") {
		t.Fatalf("add: %q", out)
	}
	if got := must("webhook", "list", "team"); got != id+"\thttp://127.0.0.1:9/hook\tjob.failed,push\tjson\n" {
		t.Fatalf("list: %q", got)
	}
	if _, errOut, code := run("webhook", "add", "team", "http://10.0.0.1/hook"); code == 0 || !strings.Contains(errOut, "--webhook-hosts") {
		t.Fatalf("a host not allowed: %d %q", code, errOut)
	}
	must("webhook", "remove", "team", id)
	if got := must("webhook", "list", "team"); got != "" {
		t.Fatalf("list after remove: %q", got)
	}
	out = must("retention", "--include", "^pr-", "--keep-last", "2", "--every", "2d", "add", "team")
	pid, _, _ := strings.Cut(strings.TrimPrefix(out, "retention policy "), " ")
	if got := must("retention", "list", "team"); !strings.HasPrefix(got, pid+"\tteam/*\tinclude /^pr-/; keep last 2\tevery 2d") {
		t.Fatalf("retention list: %q", got)
	}
	if err := os.MkdirAll(filepath.Join(dir, "registry"), 0o755); err != nil { // the embedded registry's storage, empty
		t.Fatal(err)
	}
	if got := must("retention", "preview", "team", pid); got != "a run now would delete 0 tags\n" {
		t.Fatalf("preview on an empty registry: %q", got)
	}
	must("retention", "remove", "team", pid)
	st, _ = store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "berth.db"))
	defer st.Close()
	as, _ = store.AccountsOf(st)
	entries, _ := as.Audit(t.Context(), store.AuditFilter{})
	if len(entries) != 4 {
		t.Fatalf("audit: %+v", entries)
	}
}
