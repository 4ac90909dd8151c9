package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
)

// commands are the subcommands runCommand knows; anything else starts the server.
var commands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"cp":      cmdCopy,
	"push":    cmdPush,
	"rm":      cmdRemove,
	"cleanup": cmdCleanup,
	"gc":      cmdGC,
	"export":  cmdExport, // export.go
	"scan":    cmdScan,   // scan_cli.go
	"vulndb":  cmdVulnDB, // scan_cli.go
	// Access control (access_cli.go).
	"user":            cmdUser,
	"token":           cmdToken,
	"team":            cmdTeam,
	"keys":            cmdKeys,
	"registry-config": cmdRegistryConfig,
}

// errUsage means the command line was wrong; the flag set has said how already.
var errUsage = errors.New("usage")

// runCommand runs a subcommand when args name one; ok is false otherwise.
func runCommand(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return 0, false
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		return 0, true
	case errors.Is(err, errUsage):
		return 2, true
	}
	fmt.Fprintf(stderr, "berth %s: %v\n", args[0], err)
	return 1, true
}

// target is where a command works: --registry, or the embedded registry's storage in
// --data-dir, served on a loopback port for the command's duration.
type target struct {
	registry string
	dataDir  string
}

func (t *target) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.registry, "registry", os.Getenv("BERTH_REGISTRY"), "registry base URL, e.g. http://127.0.0.1:5000 (default: the embedded registry's storage in --data-dir)")
	fs.StringVar(&t.dataDir, "data-dir", envOr("BERTH_DATA_DIR", "data"), "the embedded registry's data directory, used without --registry")
}

// open returns the registry to work on and a function that stops it when embedded.
// Credentials come from the Docker config (docker login), as for docker and crane.
func (t *target) open(ctx context.Context) (*registry.Client, func(), error) {
	if t.registry != "" {
		reg, err := keychainRegistry(t.registry)
		return reg, func() {}, err
	}
	dir := filepath.Join(t.dataDir, "registry")
	if _, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("no embedded registry storage at %s (set --data-dir, or --registry for another registry): %w", dir, err)
	}
	reg, err := embedded.New(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = reg.Close()
		return nil, nil, fmt.Errorf("embedded registry: %w", err)
	}
	srv := &http.Server{Handler: reg.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = reg.Close()
	}
	c, err := registry.New(registry.Options{URL: "http://" + ln.Addr().String(), ServiceWrites: true})
	if err != nil {
		stop()
		return nil, nil, err
	}
	return c, stop, nil
}

// keychainRegistry returns the registry at url with the Docker config's credentials for it.
// The CLI is the operator's tool: it writes with those credentials.
func keychainRegistry(url string) (*registry.Client, error) {
	auth, err := registry.Keychain(url)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", url, err)
	}
	return registry.New(registry.Options{URL: url, Auth: auth, ServiceWrites: true})
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("berth "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: berth %s %s\n\nflags (before the arguments):\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string, nargs int, exact bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() < nargs || (exact && fs.NArg() != nargs) {
		fs.Usage()
		return errUsage
	}
	return nil
}

// cmdCopy: berth cp SRC DST.
func cmdCopy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("cp", "[flags] SRC DST\n\nCopies an image, index or artifact with its referrers; SRC and DST are repository:tag or\nrepository@digest (DST may be a bare repository to keep the tag).", stderr)
	var t target
	t.flags(fs)
	from := fs.String("from", "", "registry base URL SRC is in (default: the target registry)")
	to := fs.String("to", "", "registry base URL DST is in (default: the target registry)")
	if err := parse(fs, args, 2, true); err != nil {
		return err
	}
	reg, stop, err := t.open(ctx)
	if err != nil {
		return err
	}
	defer stop()
	src, dst := reg, reg
	if *from != "" {
		if src, err = keychainRegistry(*from); err != nil {
			return err
		}
	}
	if *to != "" {
		if dst, err = keychainRegistry(*to); err != nil {
			return err
		}
	}
	c, err := ops.NewCopy(ops.Endpoint{Registry: src, Ref: fs.Arg(0)}, ops.Endpoint{Registry: dst, Ref: fs.Arg(1)})
	if err != nil {
		return err
	}
	p := newPrinter(stderr)
	res, err := c.Run(ctx, p.report)
	p.end()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s@%s (%d manifests, %d blobs)\n", fs.Arg(1), res.Digest, res.Manifests, res.Blobs)
	return nil
}

// cmdPush: berth push FILE REPOSITORY[:TAG].
func cmdPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("push", "[flags] FILE REPOSITORY[:TAG]\n\nPushes the images of a docker save or OCI-layout tarball (gzip-compressed or not, - for stdin):\nunder TAG when the archive holds one image, else under each image's own tags.", stderr)
	var t target
	t.flags(fs)
	if err := parse(fs, args, 2, true); err != nil {
		return err
	}
	repo, tag, err := registry.SplitReference(fs.Arg(1))
	if err != nil {
		return err
	}
	if registry.IsDigest(tag) {
		return fmt.Errorf("%s: push to a tag, not a digest", fs.Arg(1))
	}
	path, cleanup, err := plainArchive(fs.Arg(0))
	if err != nil {
		return err
	}
	defer cleanup()
	a, err := ops.OpenArchive(path)
	if err != nil {
		return err
	}
	defer a.Close()
	reg, stop, err := t.open(ctx)
	if err != nil {
		return err
	}
	defer stop()
	p := newPrinter(stderr)
	p.report(api.JobEvent{Type: api.EventPhase, Phase: "verify", Message: "Checking every blob of " + fs.Arg(0)})
	im, err := ops.NewImport(ctx, reg, a, repo, tag, true)
	if err != nil {
		return err
	}
	res, err := im.Run(ctx, p.report)
	p.end()
	if err != nil {
		return err
	}
	for _, ref := range res.Tags {
		fmt.Fprintf(stdout, "%s (%d manifests, %d blobs)\n", ref, res.Manifests, res.Blobs)
	}
	return nil
}

// plainArchive returns the path of file as a plain tar: file itself, or — when it is
// gzip-compressed or stdin — a temporary copy, which cleanup removes.
func plainArchive(file string) (path string, cleanup func(), err error) {
	var in io.Reader
	if file == "-" {
		in = os.Stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			return "", nil, err
		}
		defer f.Close()
		var magic [2]byte
		if _, err := io.ReadFull(f, magic[:]); err == nil && (magic[0] != 0x1f || magic[1] != 0x8b) {
			return file, func() {}, nil
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", nil, err
		}
		in = f
	}
	tmp, err := os.CreateTemp("", "berth-push-*.tar")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { _ = os.Remove(tmp.Name()) }
	err = ops.CopyArchive(tmp, in, 1<<62)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return tmp.Name(), cleanup, nil
}

// cmdRemove: berth rm REF...
func cmdRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rm", "[flags] REPOSITORY:TAG|REPOSITORY@DIGEST...\n\nA tag removes only the tag; a digest removes the manifest and every tag pointing to it.", stderr)
	var t target
	t.flags(fs)
	if err := parse(fs, args, 1, false); err != nil {
		return err
	}
	reg, stop, err := t.open(ctx)
	if err != nil {
		return err
	}
	defer stop()
	p := newPrinter(stderr)
	var errs []error
	note := ""
	for _, arg := range fs.Args() {
		repo, ref, err := registry.SplitReference(arg)
		if err == nil && ref == "" {
			err = fmt.Errorf("%s: want repository:tag or repository@digest", arg)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d, err := ops.NewDelete(reg, repo, []string{ref})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res, err := d.Run(ctx, p.report)
		if err != nil {
			errs = append(errs, err)
		}
		if res != nil {
			for _, r := range res.Deleted {
				fmt.Fprintf(stdout, "deleted %s %s\n", repo, r)
			}
			note = cmp.Or(res.Note, note)
		}
	}
	p.end()
	if note != "" {
		fmt.Fprintln(stderr, "note: "+note)
	}
	return errors.Join(errs...)
}

// keepList collects repeated --keep-tag flags.
type keepList []string

func (k *keepList) String() string     { return strings.Join(*k, ",") }
func (k *keepList) Set(v string) error { *k = append(*k, v); return nil }

// cmdCleanup: berth cleanup --repo R --keep N --older-than D [--dry-run].
func cmdCleanup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("cleanup", "--repo R [--keep N] [--older-than D] [--include RE] [--exclude RE] [--keep-tag T]... [--dry-run]", stderr)
	var t target
	t.flags(fs)
	var rule api.CleanupRule
	var keep keepList
	fs.StringVar(&rule.Repository, "repo", "", "repository to clean up (required)")
	fs.IntVar(&rule.KeepLast, "keep", 0, "keep the newest N tags by creation date")
	fs.StringVar(&rule.OlderThan, "older-than", "", "delete only tags created longer ago than this (30d, 720h)")
	fs.StringVar(&rule.Include, "include", "", "consider only tags matching this regular expression")
	fs.StringVar(&rule.Exclude, "exclude", "", "never delete tags matching this regular expression")
	fs.Var(&keep, "keep-tag", "never delete this tag (repeatable)")
	dryRun := fs.Bool("dry-run", false, "print what would be deleted and delete nothing")
	if err := parse(fs, args, 0, true); err != nil {
		return err
	}
	rule.Keep = keep
	if rule.Repository == "" {
		fs.Usage()
		return errUsage
	}
	reg, stop, err := t.open(ctx)
	if err != nil {
		return err
	}
	defer stop()
	c, err := ops.NewCleanup(reg, rule)
	if err != nil {
		return err
	}
	if *dryRun {
		plan, err := c.Plan(ctx)
		if err != nil {
			return err
		}
		for _, it := range plan.Delete {
			fmt.Fprintf(stdout, "would delete %s:%s\t%s\t%s\n", plan.Repository, it.Tag, it.Digest, createdLabel(it.Created))
		}
		fmt.Fprintf(stdout, "%d tags would be deleted, %d kept\n", len(plan.Delete), plan.Kept)
		return nil
	}
	p := newPrinter(stderr)
	res, err := c.Run(ctx, p.report)
	p.end()
	if res != nil {
		for _, tag := range res.Deleted {
			fmt.Fprintf(stdout, "deleted %s:%s\n", rule.Repository, tag)
		}
		if res.Note != "" {
			fmt.Fprintln(stderr, "note: "+res.Note)
		}
	}
	return err
}

func createdLabel(t time.Time) string {
	if t.IsZero() {
		return "created: unknown"
	}
	return "created " + t.UTC().Format(time.RFC3339)
}

// cmdGC: berth gc.
func cmdGC(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gc", "[--data-dir D] [--dry-run] [--remove-untagged]\n\nRuns distribution's offline garbage collection on the embedded registry's storage.\nStop Berth first: blobs pushed while the sweep runs can be lost.", stderr)
	dataDir := fs.String("data-dir", envOr("BERTH_DATA_DIR", "data"), "Berth's data directory")
	dryRun := fs.Bool("dry-run", false, "report what would be removed, remove nothing")
	untagged := fs.Bool("remove-untagged", false, "also remove manifests no tag points to (and their blobs)")
	if err := parse(fs, args, 0, true); err != nil {
		return err
	}
	dir := filepath.Join(*dataDir, "registry")
	fmt.Fprintf(stderr, "garbage-collecting %s: Berth must not be running on this data directory\n", dir)
	res, err := ops.GarbageCollect(ctx, dir, *dryRun, *untagged)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "freed %s (%s before, %s after)\n", api.HumanSize(res.Freed()), api.HumanSize(res.Before), api.HumanSize(res.After))
	return nil
}

// printer shows a job's events on stderr: a progress bar redrawn in place on a terminal,
// plain lines otherwise.
type printer struct {
	w        io.Writer
	terminal bool

	mu    sync.Mutex
	blobs map[string][2]int64
	drawn time.Time
	bar   bool // a bar is on the current line
}

func newPrinter(w io.Writer) *printer {
	p := &printer{w: w, blobs: map[string][2]int64{}}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *printer) report(e api.JobEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Type {
	case api.EventProgress:
		p.blobs[e.Blob] = [2]int64{e.Done, e.Total}
		if !p.terminal {
			if e.Total > 0 && e.Done == e.Total {
				fmt.Fprintf(p.w, "blob %s: %s done\n", shortDigest(e.Blob), api.HumanSize(e.Total))
			}
			return
		}
		if time.Since(p.drawn) < 100*time.Millisecond && e.Done < e.Total {
			return
		}
		p.drawn = time.Now()
		var done, total int64
		for _, b := range p.blobs {
			done += b[0]
			total += b[1]
		}
		const width = 30
		filled := 0
		if total > 0 {
			filled = int(done * width / total)
		}
		fmt.Fprintf(p.w, "\r[%s%s] %s / %s ", strings.Repeat("#", filled), strings.Repeat("-", width-filled), api.HumanSize(done), api.HumanSize(total))
		p.bar = true
	default:
		p.clearBar()
		if e.Phase != "" {
			fmt.Fprintf(p.w, "%s: %s\n", e.Phase, e.Message)
		} else if e.Message != "" {
			fmt.Fprintln(p.w, e.Message)
		}
	}
}

func (p *printer) clearBar() {
	if p.bar {
		fmt.Fprintln(p.w)
		p.bar = false
	}
}

// end finishes the bar's line.
func (p *printer) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearBar()
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
