package charts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/berth-registry/berth/server/access"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// ServeMuseumList answers GET /api/charts: {name: [version…]}, as ChartMuseum does.
func (s *Service) ServeMuseumList(w http.ResponseWriter, r *http.Request) {
	byName, err := s.index(r.Context())
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	out := map[string][]*chartVersion{}
	for name, vs := range byName {
		for _, v := range vs {
			out[name] = append(out[name], v.entry())
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	httperr.WriteJSON(w, http.StatusOK, out)
}

// museumVersions is one chart name's versions from the caller's index, newest first.
func (s *Service) museumVersions(ctx context.Context, name string) ([]*version, error) {
	byName, err := s.index(ctx)
	if err != nil {
		return nil, err
	}
	vs := byName[name]
	if len(vs) == 0 {
		return nil, errNotFound("chart not found: %s", name)
	}
	return vs, nil
}

// ServeMuseumChart answers GET /api/charts/NAME.
func (s *Service) ServeMuseumChart(w http.ResponseWriter, r *http.Request) {
	vs, err := s.museumVersions(r.Context(), r.PathValue("name"))
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	out := make([]*chartVersion, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.entry())
	}
	w.Header().Set("Cache-Control", "no-store")
	httperr.WriteJSON(w, http.StatusOK, out)
}

// ServeMuseumVersion answers GET /api/charts/NAME/VERSION; VERSION "latest" is the newest.
func (s *Service) ServeMuseumVersion(w http.ResponseWriter, r *http.Request) {
	name, want := r.PathValue("name"), r.PathValue("version")
	vs, err := s.museumVersions(r.Context(), name)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	for _, v := range vs {
		if want == "latest" || v.meta.Version == want {
			w.Header().Set("Cache-Control", "no-store")
			httperr.WriteJSON(w, http.StatusOK, v.entry())
			return
		}
	}
	httperr.Write(w, r, errNotFound("chart version not found: %s-%s", name, want))
}

// ServeDelete answers DELETE /api/charts/NAME/VERSION: the manifest under the upload prefix
// goes, with every tag pointing to it.
func (s *Service) ServeDelete(w http.ResponseWriter, r *http.Request) {
	name, ver := r.PathValue("name"), r.PathValue("version")
	repository := s.prefix + name
	if err := s.authorize(r.Context(), repository, access.Pull|access.Delete); err != nil {
		httperr.Write(w, r, err)
		return
	}
	if _, err := checkVersion(ver); err != nil {
		httperr.Write(w, r, err)
		return
	}
	v, err := s.readVersion(r.Context(), repository, versionTag(ver))
	if err == nil && v == nil {
		err = errNotFound("%s:%s is not a Helm chart", repository, ver)
	}
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	err = s.reg.DeleteManifest(r.Context(), repository, v.digest)
	s.Invalidate(repository)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	httperr.WriteJSON(w, http.StatusOK, map[string]bool{"deleted": true})
}

// ServeUpload answers POST /api/charts: the body is the .tgz, or multipart/form-data with
// files "chart" and optionally "prov" as `helm cm-push` sends. Everything is checked before
// the first byte goes to the registry, so a refused upload writes nothing.
func (s *Service) ServeUpload(w http.ResponseWriter, r *http.Request) {
	// The chart's repository is known only from the archive, so the authorizer is asked
	// after reading it; a caller who can write nothing is refused before a byte is stored.
	if !s.reg.CanWrite(r.Context()) {
		httperr.Write(w, r, access.Refuse(access.From(r.Context()), "this registry", access.Push, 0))
		return
	}
	archive, prov, err := s.spool(w, r)
	defer func() {
		for _, f := range []*spooled{archive, prov} {
			if f != nil {
				_ = f.file.Close()
				_ = os.Remove(f.file.Name())
			}
		}
	}()
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	if archive == nil {
		httperr.Write(w, r, errBad("the upload holds no chart: send the .tgz as the body or as the multipart file \"chart\""))
		return
	}
	repository, err := s.Upload(r.Context(), archive, prov)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/charts/"+repository+"/versions")
	httperr.WriteJSON(w, http.StatusCreated, map[string]bool{"saved": true})
}

// Upload checks a spooled chart (and .prov) and stores it under the prefix; it returns the
// repository.
func (s *Service) Upload(ctx context.Context, archive, prov *spooled) (string, error) {
	if _, err := archive.file.Seek(0, 0); err != nil {
		return "", err
	}
	ch, err := loader.LoadArchive(archive.file)
	if err != nil {
		return "", httperr.Wrap(api.CodeBadRequest, "not a valid chart archive: "+err.Error(), err)
	}
	meta := ch.Metadata
	repository := s.prefix + meta.Name
	if err := s.authorize(ctx, repository, access.Pull|access.Push); err != nil {
		return "", err
	}
	if _, err := checkVersion(meta.Version); err != nil {
		return "", err
	}
	if err := fileNameMatches(archive.name, meta); err != nil {
		return "", err
	}
	if prov != nil && !bytes.Contains(provHead(prov), []byte("sha256:"+archive.digest.Encoded())) {
		return "", errBad("the provenance file does not name this chart archive's sha256 digest")
	}
	mu, _ := s.uploads.LoadOrStore(repository, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	_, _, _, err = s.reg.Manifest(ctx, repository, versionTag(meta.Version))
	switch {
	case err == nil && !s.allowOverwrite:
		return "", httperr.New(api.CodeConflict, fmt.Sprintf("%s %s exists already", meta.Name, meta.Version))
	case err != nil && !notFound(err):
		return "", err
	}
	_, err = s.pushChart(ctx, repository, meta, archive, prov)
	s.Invalidate(repository)
	if err != nil {
		return "", err
	}
	return repository, nil
}

// fileNameMatches refuses a file named NAME-VERSION.tgz for another name or version; other
// names (chart.tgz) say nothing and pass.
func fileNameMatches(file string, meta *chart.Metadata) error {
	base, ok := strings.CutSuffix(file, ".tgz")
	if !ok || base == meta.Name+"-"+meta.Version {
		return nil
	}
	for i := strings.Index(base, "-"); i > 0; {
		if _, err := checkVersion(base[i+1:]); err == nil {
			return errBad("the file %s holds chart %s version %s", file, meta.Name, meta.Version)
		}
		j := strings.Index(base[i+1:], "-")
		if j < 0 {
			break
		}
		i += j + 1
	}
	return nil
}

// provHead is the start of a .prov, where its file digests are.
func provHead(p *spooled) []byte {
	b := make([]byte, 64<<10)
	n, _ := p.file.ReadAt(b, 0)
	return b[:n]
}

// spool writes the upload's chart (and .prov) to temporary files, refusing more than
// MaxChartSize bytes of chart with 413.
func (s *Service) spool(w http.ResponseWriter, r *http.Request) (archive, prov *spooled, err error) {
	// The multipart envelope and a .prov ride on top of the chart's own limit.
	r.Body = http.MaxBytesReader(w, r.Body, s.maxSize+maxSmallBlob+64<<10)
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		archive, err = s.spoolOne(r.Body, "", s.maxSize)
		return archive, nil, err
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return archive, prov, nil
		}
		if err != nil {
			return archive, prov, uploadError(err)
		}
		switch part.FormName() {
		case "chart":
			if archive != nil {
				return archive, prov, errBad("more than one chart in the upload")
			}
			archive, err = s.spoolOne(part, part.FileName(), s.maxSize)
		case "prov":
			if prov != nil {
				return archive, prov, errBad("more than one provenance file in the upload")
			}
			prov, err = s.spoolOne(part, part.FileName(), maxSmallBlob)
		}
		if err != nil {
			return archive, prov, err
		}
	}
}

// spoolOne copies r to a temporary file, hashing it on the way, up to limit bytes.
func (s *Service) spoolOne(r io.Reader, name string, limit int64) (*spooled, error) {
	f, err := os.CreateTemp("", "berth-chart-*")
	if err != nil {
		return nil, err
	}
	sp := &spooled{file: f, name: name}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, limit+1))
	sp.size = n
	if err != nil {
		return sp, uploadError(err)
	}
	if n > limit {
		return sp, httperr.New(api.CodeTooLarge, fmt.Sprintf("the upload is over the limit of %d bytes", limit))
	}
	if n == 0 {
		return sp, errBad("the chart archive is empty")
	}
	sp.digest = digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
	return sp, nil
}

func uploadError(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return httperr.Wrap(api.CodeTooLarge, fmt.Sprintf("the upload is over the limit of %d bytes", mb.Limit), err)
	}
	return httperr.Wrap(api.CodeBadRequest, "the upload cannot be read", err)
}
