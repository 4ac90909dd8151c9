package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/scan"
	"github.com/berth-registry/berth/server/store"
)

// storeFlag is the --database and --data-dir pair the scan commands open the store with.
type storeFlag struct{ database, dataDir string }

// open opens the store Berth runs with; only create (an import) may make one: reading a
// mistyped --data-dir leaves no new, empty data directory behind.
func (f *storeFlag) open(ctx context.Context, create bool) (store.Store, error) {
	af := accessFlags{dataDir: f.dataDir, database: f.database}
	dsn, path := f.database, af.sqlitePath()
	if path != "" {
		if _, err := os.Stat(path); err != nil && !create {
			return nil, fmt.Errorf("there is no Berth store at %s: give --data-dir (or --database) as Berth runs with it", path)
		}
		if dsn == "" {
			dsn = "sqlite:" + path
		}
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("cannot open the store: %w", err)
	}
	return st, nil
}

// cmdVulnDB loads the vulnerability database from a file, or says what is loaded.
func cmdVulnDB(ctx context.Context, c *cli, args []string) error {
	var f storeFlag
	stdout := c.out
	fs := newFlags(c, "vulndb", "status | import FILE", "Says which vulnerability database scans match against, or loads one from a file.")
	fs.StringVar(&f.database, "database", os.Getenv("BERTH_DATABASE"), "the store: postgres://… or a SQLite path, as the server's --database")
	fs.StringVar(&f.dataDir, "data-dir", envOr("BERTH_DATA_DIR", "data"), "the data directory, whose berth.db is the store without --database")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 || (rest[0] == "import") != (len(rest) == 2) || (rest[0] != "import" && rest[0] != "status") {
		return usagef("want status, or import FILE")
	}
	st, err := f.open(ctx, rest[0] == "import")
	if err != nil {
		return err
	}
	defer st.Close()
	if rest[0] == "import" {
		file, err := os.Open(rest[1])
		if err != nil {
			return fmt.Errorf("open %s: %w", rest[1], err)
		}
		defer file.Close()
		db, err := scan.Load(ctx, file, scan.DefaultMaxDBSize, "file:"+filepath.Base(rest[1]))
		if err != nil {
			return err
		}
		if err := st.PutVulnDB(ctx, db); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "imported %d advisories (%s); images are rescanned by the running Berth within a minute\n", db.Records, scan.Age(db.Newest, time.Now()))
		return nil
	}
	db, ok, err := st.VulnDBState(ctx)
	if err != nil {
		return err
	}
	if !ok {
		fmt.Fprintln(stdout, "no vulnerability database loaded: set --vuln-db-url or run berth vulndb import FILE")
		return nil
	}
	fmt.Fprintf(stdout, "%d advisories from %s, %s (loaded %s)\n", db.Records, db.Source, scan.Age(db.Newest, time.Now()), db.Loaded.Format(time.RFC3339))
	for eco, n := range db.Counts {
		fmt.Fprintf(stdout, "  %-12s %d\n", eco, n)
	}
	return nil
}

// errFindings is the scan command's failure at or above --fail-on; its message is printed.
var errFindings = errors.New("findings at or above --fail-on")

// cmdScan scans one image in this process against the store's database and prints its
// findings; the exit code is 1 when one is at or above --fail-on (for CI).
func cmdScan(ctx context.Context, c *cli, args []string) error {
	var t target
	var f storeFlag
	stdout := c.out
	fs := newFlags(c, "scan", "REPOSITORY:TAG | REPOSITORY@DIGEST", "Scans one image against the store's vulnerability database and prints its findings.")
	t.flags(fs)
	fs.StringVar(&f.database, "database", os.Getenv("BERTH_DATABASE"), "the store holding the vulnerability database, as the server's --database")
	failOn := fs.String("fail-on", "", "exit 1 when a finding is at or above this severity: critical, high, medium, low")
	format := fs.String("format", "table", "table, spdx or cyclonedx (an SBOM of a single image)")
	pos, err := parseN(fs, args, 1, 1, "one image, REPOSITORY:TAG or REPOSITORY@DIGEST")
	if err != nil {
		return err
	}
	if *failOn != "" && scan.Rank(*failOn) == 0 {
		return usagef("--fail-on %q: want critical, high, medium or low", *failOn)
	}
	f.dataDir = t.dataDir
	repo, ref, err := splitRef(pos[0])
	if err != nil {
		return err
	}
	st, err := f.open(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close()
	reg, stop, err := t.open(ctx, c)
	if err != nil {
		return err
	}
	defer stop()
	d, err := reg.Head(ctx, repo, ref)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "berth-scan-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	svc, err := scan.New(scan.Options{Own: reg, Authorizer: registry.NewAuthorizer(reg, 0), Store: st, WorkDir: work})
	if err != nil {
		return err
	}
	r := svc.ScanNow(ctx, repo, d.Digest.String())
	if r.Error != "" {
		return errors.New(r.Error)
	}
	if err := printReport(stdout, r, *format); err != nil {
		return err
	}
	for _, fd := range r.Findings {
		if *failOn != "" && scan.Rank(fd.Severity) >= scan.Rank(*failOn) {
			return fmt.Errorf("%w (%s)", errFindings, *failOn)
		}
	}
	return nil
}

func splitRef(s string) (repo, ref string, err error) {
	if i := strings.Index(s, "@"); i > 0 {
		return s[:i], s[i+1:], nil
	}
	if i := strings.LastIndex(s, ":"); i > 0 && !strings.Contains(s[i:], "/") {
		return s[:i], s[i+1:], nil
	}
	if err := registry.ValidateRepository(s); err != nil {
		return "", "", err
	}
	return s, "latest", nil
}

func printReport(w io.Writer, r store.ScanReport, format string) error {
	switch format {
	case "spdx", "cyclonedx":
		b := map[string][]byte{"spdx": r.SPDX, "cyclonedx": r.CycloneDX}[format]
		if len(b) == 0 {
			return errors.New("an index has no single SBOM: scan one platform's digest")
		}
		_, err := w.Write(append(b, '\n'))
		return err
	case "table":
	default:
		return fmt.Errorf("--format %q: want table, spdx or cyclonedx", format)
	}
	if r.DBVersion == "" {
		fmt.Fprintln(w, "no vulnerability database loaded: packages listed in the SBOM only (berth vulndb import FILE)")
	}
	fmt.Fprintf(w, "%d packages, %d critical, %d high, %d medium, %d low, %d unknown\n", r.Packages, r.Critical, r.High, r.Medium, r.Low, r.Unknown)
	if len(r.Findings) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tADVISORY\tPACKAGE\tVERSION\tFIXED IN")
	for _, f := range r.Findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Severity, f.ID, f.Package, f.Version, f.Fixed)
	}
	return tw.Flush()
}
