package contents

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// requestImage resolves the request's image as the caller, once the authorizer lets them pull.
func (s *Service) requestImage(r *http.Request) (*image, error) {
	repo, err := s.repository(r)
	if err != nil {
		return nil, err
	}
	return s.resolve(r.Context(), repo, r.PathValue("ref"), r.URL.Query().Get("platform"))
}

// ServeImage answers an image's layers, config and build steps: GET …/-/image/{ref}.
func (s *Service) ServeImage(w http.ResponseWriter, r *http.Request) {
	img, err := s.requestImage(r)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	out, err := s.contents(r.Context(), img)
	respond(w, r, out, err)
}

// progressEvery is how often an index stream reports the bytes read of a layer.
const progressEvery = 250 * time.Millisecond

// ServeIndex indexes every layer of the image not indexed yet, streaming NDJSON progress:
// a "progress" line now and then while a layer is read, a "layer" line when one is indexed,
// then "done", or "error" last.
func (s *Service) ServeIndex(w http.ResponseWriter, r *http.Request) {
	img, err := s.requestImage(r)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	ctx := r.Context()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	send := func(ev api.IndexEvent) bool {
		if err := enc.Encode(ev); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	fail := func(l layerRef, err error) {
		ev := api.IndexEvent{Type: "error", Layer: l.index, Digest: l.digest, Code: string(api.CodeInternal), Error: "internal error"}
		if he := asHTTP(err); he != nil {
			ev.Code, ev.Error = string(he.Code), he.Message
		}
		send(ev)
	}
	for _, l := range img.layers {
		x, err := s.stored(ctx, l.digest)
		if err != nil {
			fail(l, err)
			return
		}
		if x == nil {
			f := s.join(ctx, l)
			tick := time.NewTicker(progressEvery)
		wait:
			for {
				select {
				case <-f.done:
					break wait
				case <-ctx.Done():
					tick.Stop()
					return
				case <-tick.C:
					if !send(api.IndexEvent{Type: "progress", Layer: l.index, Digest: l.digest, Read: f.read.Load(), Size: l.size}) {
						tick.Stop()
						return
					}
				}
			}
			tick.Stop()
			if f.err != nil {
				fail(l, s.indexError(l, f.err))
				return
			}
			x = f.x
		}
		if !send(api.IndexEvent{Type: "layer", Layer: l.index, Digest: l.digest, Read: l.size, Size: l.size, Entries: len(x.entries)}) {
			return
		}
	}
	send(api.IndexEvent{Type: "done", Layer: len(img.layers)})
}

func asHTTP(err error) *httperr.Error {
	var he *httperr.Error
	if errors.As(err, &he) {
		return he
	}
	return nil
}

// layerOf finds digest among img's layers: only a layer of a manifest the caller just read
// is ever looked up in the shared index.
func layerOf(img *image, digest string) (layerRef, error) {
	if err := validDigest(digest); err != nil {
		return layerRef{}, err
	}
	for _, l := range img.layers {
		if l.digest == digest {
			return l, nil
		}
	}
	return layerRef{}, httperr.New(api.CodeNotFound, fmt.Sprintf("%s is not a layer of %s:%s", digest, img.repository, img.reference))
}

// ServeLayer lists the files of one layer: GET …/-/image/{ref}/layers/{digest}.
func (s *Service) ServeLayer(w http.ResponseWriter, r *http.Request) {
	img, err := s.requestImage(r)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	l, err := layerOf(img, r.PathValue("digest"))
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	offset, limit, err := s.paging(r)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	x, err := s.index(r.Context(), l)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	q := strings.ToLower(r.URL.Query().Get("q"))
	out := api.LayerFiles{
		Layer: api.LayerInfo{Index: l.index, Digest: l.digest, MediaType: l.mediaType, Size: l.size, Indexed: true, Entries: len(x.entries), Files: x.files},
		Query: q, Offset: offset, Limit: limit, Truncated: x.truncated, Skipped: x.skipped, Entries: []api.FileEntry{},
	}
	for _, e := range x.entries {
		if q != "" && !strings.Contains(strings.ToLower(e.path), q) {
			continue
		}
		if out.Total >= offset && len(out.Entries) < limit {
			out.Entries = append(out.Entries, e.api(l.index))
		}
		out.Total++
	}
	respond(w, r, out, nil)
}

func (s *Service) paging(r *http.Request) (offset, limit int, err error) {
	q := r.URL.Query()
	limit = 1000
	if v := q.Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > s.limits.MaxList {
			return 0, 0, badRequest("limit must be a number from 1 to " + strconv.Itoa(s.limits.MaxList))
		}
	}
	if v := q.Get("offset"); v != "" {
		offset, err = strconv.Atoi(v)
		if err != nil || offset < 0 {
			return 0, 0, badRequest("offset must be a number of 0 or more")
		}
	}
	return offset, limit, nil
}

// cleanPath checks a path parameter: absolute, clean, not too long.
func (s *Service) cleanPath(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	if len(p) > s.limits.MaxPath || !strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) || !utf8.ValidString(p) {
		return "", badRequest("path must be an absolute path such as /etc/os-release")
	}
	return path.Clean(p), nil
}

// ServeTree lists a directory of the merged filesystem (path=), or searches it (q=).
func (s *Service) ServeTree(w http.ResponseWriter, r *http.Request) {
	img, err := s.requestImage(r)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	dir, err := s.cleanPath(r.URL.Query().Get("path"))
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	if len(q) > s.limits.MaxPath {
		httperr.Write(w, r, badRequest("the search is too long"))
		return
	}
	fs, _, err := s.filesystem(r.Context(), img)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	out := api.Tree{Path: dir, Query: q, Entries: []api.FileEntry{}}
	add := func(p string) {
		out.Total++
		if len(out.Entries) >= s.limits.MaxList {
			out.Truncated = true
			return
		}
		n := fs.nodes[p]
		e := n.e.api(n.layer)
		e.Children = len(fs.children[p])
		out.Entries = append(out.Entries, e)
	}
	if q != "" {
		var hits []string
		for p := range fs.nodes {
			if strings.Contains(strings.ToLower(p), q) {
				hits = append(hits, p)
			}
		}
		slices.Sort(hits)
		for _, p := range hits {
			add(p)
		}
		respond(w, r, out, nil)
		return
	}
	if n, ok := fs.nodes[dir]; dir != "/" && (!ok || n.e.typ != tDir) {
		httperr.Write(w, r, httperr.New(api.CodeNotFound, "no directory "+dir+" in "+img.repository+":"+img.reference))
		return
	}
	for _, p := range fs.children[dir] {
		add(p)
	}
	respond(w, r, out, nil)
}

// ServeFile answers a file of the merged filesystem (or of one layer, with layer=N) as text,
// or, with download=1, its bytes. The layer holding it is streamed again up to the file.
func (s *Service) ServeFile(w http.ResponseWriter, r *http.Request) {
	img, err := s.requestImage(r)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	q := r.URL.Query()
	p, err := s.cleanPath(q.Get("path"))
	if err != nil || p == "/" {
		httperr.Write(w, r, badRequest("path must name a file, such as /etc/os-release"))
		return
	}
	ctx := r.Context()
	var target string
	var n node
	if v := q.Get("layer"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= len(img.layers) {
			httperr.Write(w, r, badRequest(fmt.Sprintf("layer must be a layer number from 0 to %d", len(img.layers)-1)))
			return
		}
		x, err := s.index(ctx, img.layers[i])
		if err != nil {
			httperr.Write(w, r, err)
			return
		}
		target = p
		for _, e := range x.entries {
			if e.path == p && e.typ != tWhiteout && e.typ != tOpaque {
				n = node{e: e, layer: i}
			}
		}
		if n.e.typ == tHardlink {
			target = n.e.link
			for _, e := range x.entries {
				if e.path == target && e.typ == tReg {
					n = node{e: e, layer: i}
				}
			}
		}
		if n.e.typ == 0 {
			httperr.Write(w, r, httperr.New(api.CodeNotFound, fmt.Sprintf("no %s in layer %d", p, i)))
			return
		}
	} else {
		fs, _, err := s.filesystem(ctx, img)
		if err != nil {
			httperr.Write(w, r, err)
			return
		}
		var ok bool
		target, n, ok = fs.resolveLink(p)
		if !ok {
			httperr.Write(w, r, httperr.New(api.CodeNotFound, fmt.Sprintf("no file %s in %s:%s", p, img.repository, img.reference)))
			return
		}
	}
	if n.e.typ != tReg {
		httperr.Write(w, r, badRequest(fmt.Sprintf("%s is a %s, not a regular file", target, typeNames[n.e.typ])))
		return
	}
	l := img.layers[n.layer]
	download := q.Get("download") == "1" || q.Get("download") == "true"
	found := false
	var content api.FileContent
	err = s.scan(ctx, l, nil, func(e entry, h *tar.Header, body io.Reader) (bool, error) {
		if e.path != target || e.typ != tReg {
			return false, nil
		}
		found = true
		if download {
			name := path.Base(target)
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
			w.Header().Set("Content-Length", strconv.FormatInt(h.Size, 10))
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			_, err := io.Copy(w, io.LimitReader(body, h.Size))
			return true, err
		}
		data, err := io.ReadAll(io.LimitReader(body, s.limits.MaxText+1))
		if err != nil {
			return true, corrupt(ctx, err)
		}
		content = api.FileContent{Path: p, Resolved: target, Entry: n.e.api(n.layer)}
		if int64(len(data)) > s.limits.MaxText {
			data, content.Truncated = data[:s.limits.MaxText], true
		}
		if binaryData(data, content.Truncated) {
			content.Binary = true
		} else {
			content.Text = string(data)
		}
		return true, nil
	})
	if download && found {
		return // the body went out; a failure now can only cut it short
	}
	if err == nil && !found {
		err = httperr.New(api.CodeRegistryError, fmt.Sprintf("%s is in the index of layer %s but not in the layer", target, l.digest))
	}
	if err != nil {
		httperr.Write(w, r, s.indexError(l, err))
		return
	}
	respond(w, r, content, nil)
}

// binaryData reports whether data is not text: a NUL byte, or invalid UTF-8 (other than a
// rune cut by truncation at the end).
func binaryData(data []byte, truncated bool) bool {
	head := data[:min(len(data), 8000)]
	if bytes.IndexByte(head, 0) >= 0 {
		return true
	}
	if truncated {
		for i := 0; i < utf8.UTFMax && len(data) > 0 && !utf8.Valid(data); i++ {
			data = data[:len(data)-1]
		}
	}
	return !utf8.Valid(data)
}
