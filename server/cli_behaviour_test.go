package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
)

// runCLI runs a command with stdin, returning its exit code, stdout and stderr.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code, ok := runCommandIO(args, strings.NewReader(stdin), &out, &errOut)
	if !ok {
		t.Fatalf("%v is not a command", args)
	}
	return code, out.String(), errOut.String()
}

// cliPushTags pushes one small image to reg under each tag of repo.
func cliPushTags(t *testing.T, reg, repo string, tags ...string) {
	t.Helper()
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		r, _ := name.ParseReference(strings.TrimPrefix(reg, "http://")+"/"+repo+":"+tag, name.Insecure)
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
	}
}

func cliTags(t *testing.T, reg, repo string) []string {
	t.Helper()
	r, _ := name.NewRepository(strings.TrimPrefix(reg, "http://")+"/"+repo, name.Insecure)
	tags, _ := remote.List(r)
	return tags
}

func TestCLIHelpListsEveryCommand(t *testing.T) {
	var out bytes.Buffer
	if _, err := config.Load([]string{"--help"}, func(string) string { return "" }, &out); err != flag.ErrHelp {
		t.Fatalf("--help: %v", err)
	}
	for cmd := range commands {
		if !strings.Contains(out.String(), "\n  berth "+cmd+" ") {
			t.Errorf("berth --help does not list %s", cmd)
		}
	}
}

// TestCLIParseFlagsAnywhere: flags may follow the arguments; "--" ends them.
func TestCLIParseFlagsAnywhere(t *testing.T) {
	for _, tc := range []struct {
		args, pos []string
		reg       string
	}{
		{[]string{"--registry", "R", "a", "b"}, []string{"a", "b"}, "R"},
		{[]string{"a", "b", "--registry", "R"}, []string{"a", "b"}, "R"},
		{[]string{"a", "--registry=R", "b"}, []string{"a", "b"}, "R"},
		{[]string{"a", "--", "--registry", "R"}, []string{"a", "--registry", "R"}, ""},
		{[]string{"-", "x"}, []string{"-", "x"}, ""},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		reg := fs.String("registry", "", "")
		pos, err := parse(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || *reg != tc.reg {
			t.Errorf("parse(%q) = %q, registry %q, %v; want %q, %q", tc.args, pos, *reg, err, tc.pos, tc.reg)
		}
	}
	code, _, errs := runCLI(t, "", "rm", "team/app:v1", "--no-such-flag")
	if code != 2 || !strings.Contains(errs, "flag provided but not defined: -no-such-flag") {
		t.Errorf("an unknown flag after the arguments: exit %d, %q", code, errs)
	}
}

// TestCLIProgressPlainLines: piped, progress is one line per blob once it is up, in
// humanized sizes, with plurals that agree; no bar, no carriage return.
func TestCLIProgressPlainLines(t *testing.T) {
	reg := registrytest.Open(t)
	img, _ := random.Image(300_000, 1)
	file := filepath.Join(t.TempDir(), "one.tar")
	tag, _ := name.NewTag("example.com/app:one")
	if err := tarball.WriteToFile(file, tag, img); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var piped bytes.Buffer
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(&piped, r); close(copied) }()
	var out bytes.Buffer
	code, _ := runCommandIO([]string{"push", file, "plain/app:one", "--registry", reg}, strings.NewReader(""), &out, w)
	w.Close()
	<-copied
	shown := piped.String()
	if code != 0 || !strings.HasPrefix(out.String(), "plain/app:one (1 manifest, 2 blobs, ") {
		t.Fatalf("push: exit %d, %q\n%s", code, out.String(), shown)
	}
	blobLine := regexp.MustCompile(`(?m)^[0-9a-f]{12}: Pushed \d+(\.\d)? [kM]?B$`)
	if n := len(blobLine.FindAllString(shown, -1)); n != 2 {
		t.Errorf("%d blob lines, want 2:\n%s", n, shown)
	}
	for _, bad := range []string{"\r", "\x1b[", "bytes", "1 manifests", "[="} {
		if strings.Contains(shown, bad) {
			t.Errorf("plain output holds %q:\n%s", bad, shown)
		}
	}
	if !strings.Contains(shown, "1 manifest and 2 blobs (") {
		t.Errorf("plain output does not count in plurals:\n%s", shown)
	}
}

// TestCLIRemoveMissingTag: the message comes once, names the registry the user knows and
// carries no storage path or Go error chain — on the embedded registry, distribution 3 and 2.8.
func TestCLIRemoveMissingTag(t *testing.T) {
	dataDir := t.TempDir()
	srv, _, host, err := startEmbedded(context.Background(), config.Config{DataDir: dataDir, EmbeddedAddr: "127.0.0.1:0"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cliPushTags(t, "http://"+host, "team/app", "v1")
	_ = srv.Shutdown(context.Background())
	cases := map[string]func(t *testing.T) []string{
		"embedded":       func(*testing.T) []string { return []string{"--data-dir", dataDir} },
		"distribution 3": func(t *testing.T) []string { return []string{"--registry", registrytest.Open(t)} },
		"distribution 2.8": func(t *testing.T) []string {
			reg := registrytest.Distribution28(t, registrytest.Config28{})
			cliPushTags(t, reg.URL, "team/app", "v1")
			return []string{"--registry", reg.URL}
		},
	}
	for name, start := range cases {
		t.Run(name, func(t *testing.T) {
			where := start(t)
			// The flags come after the argument.
			code, out, errs := runCLI(t, "", append([]string{"rm", "team/app:nope"}, where...)...)
			if code != 1 || out != "" || strings.Count(errs, "There is no tag team/app:nope") != 1 {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
			}
			for _, leak := range []string{"/docker/registry", ".:", "MANIFEST_UNKNOWN", "filesystem"} {
				if strings.Contains(errs, leak) {
					t.Errorf("stderr holds %q: %q", leak, errs)
				}
			}
			if name == "embedded" && (strings.Contains(errs, "127.0.0.1") || !strings.Contains(errs, "embedded registry in "+filepath.Join(dataDir, "registry"))) {
				t.Errorf("the embedded registry is named by its port: %q", errs)
			}
		})
	}
	code, _, errs := runCLI(t, "", "rm", "--data-dir", filepath.Join(dataDir, "nowhere"), "team/app:v1")
	if code != 1 || strings.Contains(errs, "stat ") || !strings.Contains(errs, "there is no embedded registry in") {
		t.Errorf("rm without storage: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "nowhere")); err == nil {
		t.Error("rm created the data directory it was pointed at")
	}
}

// TestCLIPushNonArchive: a file that is no image archive says so.
func TestCLIPushNonArchive(t *testing.T) {
	file := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(file, bytes.Repeat([]byte("just some notes\n"), 64), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "", "push", "--registry", "http://127.0.0.1:1", file, "team/app:v1")
	if code != 1 || !strings.Contains(errs, "not a docker save or OCI archive") || strings.Contains(errs, "truncated") {
		t.Errorf("exit %d, %q", code, errs)
	}
}

// TestCLICleanupGuards: --repo is required; a rule emptying a repository or deleting latest
// is refused without a terminal to ask on, unless --force.
func TestCLICleanupGuards(t *testing.T) {
	reg := registrytest.Open(t)
	cliPushTags(t, reg, "team/app", "latest", "v1")
	if code, _, errs := runCLI(t, "", "cleanup", "--registry", reg, "--keep", "1"); code != 2 || !strings.Contains(errs, "--repo is required") {
		t.Errorf("without --repo: exit %d, %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", "cleanup", "--registry", reg, "--repo", "team/app"); code != 2 || !strings.Contains(errs, "give --keep, --older-than or --include") {
		t.Errorf("without a rule: exit %d, %q", code, errs)
	}
	code, out, errs := runCLI(t, "", "cleanup", "--registry", reg, "--repo", "team/app", "--include", ".", "--dry-run")
	if code != 0 || !strings.Contains(out, "2 tags would be deleted, 0 kept") || !strings.Contains(errs, "warning: this rule deletes every tag of team/app (2 tags, latest included)") {
		t.Errorf("--dry-run: exit %d, %q, %q", code, out, errs)
	}
	code, out, errs = runCLI(t, "y\n", "cleanup", "--registry", reg, "--repo", "team/app", "--include", ".")
	if code != 1 || out != "" || !strings.Contains(errs, "warning: this rule deletes every tag") || !strings.Contains(errs, "nothing deleted: add --force") {
		t.Errorf("emptying without --force: exit %d, %q, %q", code, out, errs)
	}
	code, _, errs = runCLI(t, "", "cleanup", "--registry", reg, "--repo", "team/app", "--include", "^latest$")
	if code != 1 || !strings.Contains(errs, "warning: this rule deletes team/app:latest") {
		t.Errorf("deleting latest without --force: exit %d, %q", code, errs)
	}
	if got := cliTags(t, reg, "team/app"); len(got) != 2 {
		t.Fatalf("refused cleanups deleted tags: %v left", got)
	}
	code, out, errs = runCLI(t, "", "cleanup", "--registry", reg, "--repo", "team/app", "--include", "^latest$", "--force")
	if code != 0 || out != "deleted team/app:latest\n" {
		t.Errorf("--force: exit %d, %q, %q", code, out, errs)
	}
}

// TestCLIUserCommands: user add checks the name and password before it makes a store;
// commands that read the store never make one; user list lists.
func TestCLIUserCommands(t *testing.T) {
	base := t.TempDir()
	t.Chdir(base)
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"short\n", []string{"user", "add", "bob"}, "at least 8 characters"},
		{"", []string{"user", "add", "bob"}, "no password on stdin"},
		{"long enough\n", []string{"user", "add", "Bad Name"}, "lowercase letters"},
		{"", []string{"user", "list"}, "there is no Berth store at data/berth.db"},
		{"", []string{"user", "disable", "bob"}, "there is no Berth store"},
		{"", []string{"token", "create", "--user", "bob"}, "there is no Berth store"},
	} {
		code, _, errs := runCLI(t, tc.stdin, tc.args...)
		if code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q, want %q", tc.args, code, errs, tc.want)
		}
		if _, err := os.Stat(filepath.Join(base, "data")); err == nil {
			t.Fatalf("%v created ./data", tc.args)
		}
	}
	if code, out, errs := runCLI(t, "long enough\n", "user", "add", "bob", "--admin"); code != 0 || !strings.Contains(out, "user bob created") {
		t.Fatalf("user add: exit %d, %q, %q", code, out, errs)
	}
	if code, _, errs := runCLI(t, "long enough\n", "user", "add", "bob"); code != 1 || !strings.Contains(errs, "bob") || strings.Contains(errs, ".:") {
		t.Errorf("user add twice: exit %d, %q", code, errs)
	}
	if code, _, _ := runCLI(t, "", "user", "disable", "bob"); code != 0 {
		t.Errorf("user disable: exit %d", code)
	}
	code, out, _ := runCLI(t, "", "user", "list")
	if code != 0 || !regexp.MustCompile(`(?m)^NAME +ROLE +STATE +CREATED\nbob +admin +disabled +\d{4}-\d\d-\d\d$`).MatchString(out) {
		t.Errorf("user list: exit %d\n%s", code, out)
	}
	if code, _, errs := runCLI(t, "", "user", "remove", "bob"); code != 2 || !strings.Contains(errs, "add, list, disable or enable") {
		t.Errorf("an unknown verb: exit %d, %q", code, errs)
	}
}

// TestCLIGarbageCollectLocks: gc refuses while Berth serves the data directory's embedded
// registry, and Berth refuses to start while gc holds it.
func TestCLIGarbageCollectLocks(t *testing.T) {
	dataDir := t.TempDir()
	cfg := config.Config{DataDir: dataDir, EmbeddedAddr: "127.0.0.1:0"}
	srv, _, host, err := startEmbedded(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cliPushTags(t, "http://"+host, "team/app", "v1")
	code, out, errs := runCLI(t, "", "gc", "--data-dir", dataDir)
	if code != 1 || out != "" || !strings.Contains(errs, "Berth, or another berth command, is using "+dataDir) {
		t.Errorf("gc beside a running Berth: exit %d, %q, %q", code, out, errs)
	}
	_ = srv.Shutdown(context.Background())
	cliAwait(t, "the lock's release", func() bool {
		unlock, err := lockData(dataDir, true)
		if err == nil {
			unlock()
		}
		return err == nil
	})
	unlock, err := lockData(dataDir, true) // as gc holds it
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := startEmbedded(context.Background(), cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "berth gc is running on "+dataDir) {
		t.Errorf("Berth started during gc: %v", err)
	}
	unlock()
	if code, out, errs := runCLI(t, "", "gc", "--data-dir", dataDir); code != 0 || !strings.HasPrefix(out, "freed ") {
		t.Errorf("gc: exit %d, %q, %q", code, out, errs)
	}
	missing := filepath.Join(dataDir, "missing")
	if code, _, errs := runCLI(t, "", "gc", "--data-dir", missing); code != 1 || !strings.Contains(errs, "there is no embedded registry in "+missing) {
		t.Errorf("gc of a missing directory: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("gc created the data directory")
	}
}
