package ops

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"github.com/berth-registry/berth/server/access"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
)

// DefaultMaxImportSize is the largest archive an import takes unless configured otherwise.
const DefaultMaxImportSize = 2 << 30

// archiveName is how uploaded archives are named in the imports directory; a job's
// arguments name one, and nothing else is ever opened or removed there.
var archiveName = regexp.MustCompile(`^[a-f0-9]{32}\.tar$`)

// staleArchive is how long an archive may sit unchanged without an unfinished job before
// the prune removes it (an upload in progress keeps changing its file).
const staleArchive = time.Hour

// importTypes are the Content-Types an upload may have: a tar, gzip-compressed or not (the
// body's first bytes decide), or no particular type.
var importTypes = map[string]bool{
	"": true, "application/x-tar": true, "application/tar": true, "application/gzip": true,
	"application/x-gzip": true, "application/x-compressed-tar": true, "application/octet-stream": true,
}

// ServeImport answers POST /api/v1/imports?repository=REPO&tag=TAG: the body — a docker
// save or OCI-layout tar, gzip-compressed or not — is streamed to a file in the imports
// directory (at most MaxImportSize bytes, uncompressed: 413 past it), checked whole (the
// archive parses, names its images, every blob is there and hashes to its digest: 400
// otherwise, nothing written), and pushed by an import job: 202 {id}.
func (m *Manager) ServeImport(w http.ResponseWriter, r *http.Request) {
	id, err := m.serveImport(w, r)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/jobs/"+id)
	httperr.WriteJSON(w, http.StatusAccepted, api.JobStarted{ID: id})
}

func (m *Manager) serveImport(w http.ResponseWriter, r *http.Request) (string, error) {
	ctx := r.Context()
	if m.opts.ReadOnly {
		return "", ErrReadOnly
	}
	if m.opts.ImportDir == "" {
		return "", httperr.New(api.CodeNotFound, "Imports are not enabled on this Berth.")
	}
	// Everything that can be refused without the body is refused before it is read.
	if !m.opts.Registry.CanWrite(ctx) {
		return "", errSignIn
	}
	q := r.URL.Query()
	repository, tag := q.Get("repository"), q.Get("tag")
	if repository == "" {
		return "", badRequest("repository is missing: POST /api/v1/imports?repository=REPO[&tag=TAG]")
	}
	if err := registry.ValidateRepository(repository); err != nil {
		return "", err
	}
	if err := m.authorize(ctx, api.JobRequest{Kind: api.JobImport, Repository: repository}); err != nil {
		return "", err
	}
	if tag != "" {
		if err := registry.ValidateTag(tag); err != nil {
			return "", err
		}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !importTypes[mt] {
			return "", httperr.New(api.CodeUnsupportedMediaType, "Upload the archive as application/x-tar (gzip-compressed or not).")
		}
	}
	if r.ContentLength > m.opts.MaxImportSize {
		return "", m.tooLarge()
	}
	user := access.From(ctx).Name
	if err := m.admit(ctx, user); err != nil {
		return "", err
	}
	name, err := m.receive(w, r)
	if err != nil {
		return "", err
	}
	keep := false
	defer func() {
		if !keep {
			m.removeArchive(context.WithoutCancel(ctx), api.JobRequest{Kind: api.JobImport, Archive: name})
		}
	}()
	a, err := OpenArchive(filepath.Join(m.opts.ImportDir, name))
	if err != nil {
		return "", err
	}
	im, err := NewImport(ctx, m.opts.Registry, a, repository, tag, true)
	a.Close()
	if err != nil {
		return "", err
	}
	id, err := m.enqueue(ctx, user, api.JobRequest{Kind: api.JobImport, Repository: repository, Tag: tag, Archive: name}, im.Summary(), "")
	if err != nil {
		return "", err
	}
	keep = true
	return id, nil
}

func (m *Manager) tooLarge() error {
	return httperr.New(api.CodeTooLarge, fmt.Sprintf("The archive is larger than %s, the most an import takes (--max-import-size).", api.HumanSize(m.opts.MaxImportSize)))
}

// receive streams the request body, gunzipped when it is gzip, into a new archive file and
// returns its name. Past MaxImportSize bytes it stops with a 413.
func (m *Manager) receive(w http.ResponseWriter, r *http.Request) (string, error) {
	if err := os.MkdirAll(m.opts.ImportDir, 0o750); err != nil {
		return "", fmt.Errorf("imports directory: %w", err)
	}
	name := randomID() + ".tar"
	path := filepath.Join(m.opts.ImportDir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", fmt.Errorf("imports directory: %w", err)
	}
	err = CopyArchive(f, http.MaxBytesReader(w, r.Body, m.opts.MaxImportSize), m.opts.MaxImportSize)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("imports directory: %w", cerr)
	}
	if err != nil {
		_ = os.Remove(path)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || errors.Is(err, errTooLarge) {
			return "", m.tooLarge()
		}
		return "", err
	}
	return name, nil
}

var errTooLarge = errors.New("archive too large")

// CopyArchive copies an archive, gunzipping it when its first bytes say gzip, and fails
// with errTooLarge past max bytes written.
func CopyArchive(dst io.Writer, src io.Reader, max int64) error {
	br := bufio.NewReaderSize(src, 64<<10)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return badRequest(fmt.Sprintf("The archive is not valid gzip (%v).", err))
		}
		defer zr.Close()
		in = zr
	}
	n, err := io.Copy(dst, io.LimitReader(in, max+1))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
			return badRequest("The archive's gzip stream is truncated or corrupt.")
		}
		return fmt.Errorf("receive the archive: %w", err)
	}
	if n > max {
		return errTooLarge
	}
	return nil
}

// runImport is an import job's work: open the archive this job's upload left in the
// imports directory and push it. resume is set when an attempt before this one, on a
// replica that stopped, may have pushed part of it (pushes go by digest: they are redone
// harmlessly).
func (m *Manager) runImport(ctx context.Context, reg *registry.Client, req api.JobRequest, resume bool, report Report) (*api.JobResult, error) {
	if m.opts.ImportDir == "" || !archiveName.MatchString(req.Archive) {
		return nil, badRequest("the import names no uploaded archive")
	}
	a, err := OpenArchive(filepath.Join(m.opts.ImportDir, req.Archive))
	if errors.Is(err, fs.ErrNotExist) && resume {
		return nil, fmt.Errorf("the import cannot resume after its replica stopped: the uploaded archive is not in %s on this replica (it stayed on the disk of the one that stopped); upload it again, and give replicas that directory on a volume they share so imports survive a crash", m.opts.ImportDir)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the uploaded archive is not in %s on this replica: replicas running imports need that directory on a volume they share", m.opts.ImportDir)
	}
	if err != nil {
		return nil, err
	}
	defer a.Close()
	report.phase("read", "Reading the archive")
	// Checked whole at the upload; the registry checks every digest again as it takes it.
	im, err := NewImport(ctx, reg, a, req.Repository, req.Tag, false)
	if err != nil {
		return nil, err
	}
	return im.Run(ctx, report)
}

// removeArchive removes an import's archive, if req is one.
func (m *Manager) removeArchive(ctx context.Context, req api.JobRequest) {
	if req.Kind != api.JobImport || m.opts.ImportDir == "" || !archiveName.MatchString(req.Archive) {
		return
	}
	if err := os.Remove(filepath.Join(m.opts.ImportDir, req.Archive)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		slog.WarnContext(ctx, "removing an import's archive failed; the prune retries", "archive", req.Archive, "err", err)
	}
}

// pruneArchives removes archives no unfinished job will read (their job was cancelled
// before it ran, or the replica receiving them stopped) once they sat unchanged for a while.
func (m *Manager) pruneArchives(ctx context.Context, live map[string]bool) error {
	if m.opts.ImportDir == "" {
		return nil
	}
	entries, err := os.ReadDir(m.opts.ImportDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	removed := 0
	for _, e := range entries {
		if !archiveName.MatchString(e.Name()) || live[e.Name()] {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < staleArchive {
			continue
		}
		if err := os.Remove(filepath.Join(m.opts.ImportDir, e.Name())); err == nil {
			removed++
		}
	}
	if removed > 0 {
		slog.InfoContext(ctx, "pruned abandoned import archives", "archives", removed)
	}
	return nil
}
