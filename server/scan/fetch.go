package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// Fetch loads the archive at DBURL when it changed (a conditional GET by its ETag) and
// stores it: the next sweep rescans against it. Nothing is fetched without DBURL.
func (s *Service) Fetch(ctx context.Context) error {
	if s.opts.DBURL == "" || s.opts.Fetch == nil {
		return nil
	}
	cur, _, err := s.opts.Store.VulnDBState(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.opts.DBURL, nil)
	if err != nil {
		return err
	}
	if cur.Source == sourceName(s.opts.DBURL) && cur.ETag != "" {
		req.Header.Set("If-None-Match", cur.ETag)
	}
	resp, err := s.opts.Fetch.Do(req)
	if err != nil {
		return fmt.Errorf("fetch the vulnerability database: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return nil
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("fetch the vulnerability database: the server answered %s", resp.Status)
	}
	db, err := Load(ctx, resp.Body, s.opts.MaxDBSize, sourceName(s.opts.DBURL))
	if err != nil {
		return err
	}
	db.ETag = resp.Header.Get("ETag")
	if db.Version == cur.Version {
		return nil
	}
	if err := s.opts.Store.PutVulnDB(ctx, db); err != nil {
		return err
	}
	slog.InfoContext(ctx, "vulnerability database loaded", "source", sourceName(s.opts.DBURL), "records", db.Records, "newest", db.Newest)
	return nil
}

// DBClient is the client the database at dbURL is fetched with: its dials are guarded as
// remote registries' are, allowing dbURL's host alone through unchecked (a mirror on a
// private or loopback address works because the operator named it); connect bounds
// connecting and waiting for headers, the whole fetch is bounded by 30 minutes.
func DBClient(dbURL string, connect time.Duration) (*http.Client, error) {
	u, err := url.Parse(dbURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", sourceName(dbURL))
	}
	guard := registry.NewDialGuard([]string{u.Host}, nil)
	return &http.Client{Transport: registry.NewTransport(connect, guard), Timeout: 30 * time.Minute}, nil
}

// ErrTooLarge says an archive is over the size limit.
var ErrTooLarge = errors.New("the vulnerability database archive is larger than the limit")

// Load reads an OSV archive from r (at most max bytes) through a temp file and parses it.
func Load(ctx context.Context, r io.Reader, max int64, source string) (store.VulnDB, error) {
	tmp, err := os.CreateTemp("", "berth-vulndb-*.zip")
	if err != nil {
		return store.VulnDB{}, err
	}
	defer func() { tmp.Close(); os.Remove(tmp.Name()) }()
	n, err := io.Copy(tmp, io.LimitReader(r, max+1))
	if err != nil {
		return store.VulnDB{}, fmt.Errorf("read the vulnerability database: %w", err)
	}
	if n > max {
		return store.VulnDB{}, fmt.Errorf("%w (%d bytes)", ErrTooLarge, max)
	}
	if err := ctx.Err(); err != nil {
		return store.VulnDB{}, err
	}
	return ParseArchive(tmp, n, source)
}

// sourceName is how the database's URL is shown (API, reports, logs): scheme, host and path,
// without user info or a query, which may hold the mirror's credentials or a signature.
func sourceName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the configured URL"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
