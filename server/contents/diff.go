package contents

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
)

// parseImageRef splits "team/api/server:v1" or "team/api/server@sha256:…" into repository and
// reference, validating both.
func parseImageRef(s string) (repo, ref string, err error) {
	if s == "" {
		return "", "", badRequest("from and to must name images, such as library/alpine:3.21 or library/alpine@sha256:…")
	}
	if i := strings.Index(s, "@"); i >= 0 {
		repo, ref = s[:i], s[i+1:]
		if err := validDigest(ref); err != nil {
			return "", "", err
		}
	} else {
		i := strings.LastIndex(s, ":")
		if i < 0 || strings.Contains(s[i:], "/") {
			return "", "", badRequest("\"" + clip(s) + "\" names no tag or digest: write repository:tag or repository@digest")
		}
		repo, ref = s[:i], s[i+1:]
		if err := validReference(ref); err != nil {
			return "", "", err
		}
	}
	if err := validRepository(repo); err != nil {
		return "", "", err
	}
	return repo, ref, nil
}

// ServeDiff compares two images: GET /api/v1/diff?from=repo:tag&to=repo@digest&platform=
// (fromPlatform/toPlatform pick different ones).
func (s *Service) ServeDiff(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fromRepo, fromRef, err := parseImageRef(q.Get("from"))
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	toRepo, toRef, err := parseImageRef(q.Get("to"))
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	fromPlatform, toPlatform := q.Get("platform"), q.Get("platform")
	if v := q.Get("fromPlatform"); v != "" {
		fromPlatform = v
	}
	if v := q.Get("toPlatform"); v != "" {
		toPlatform = v
	}
	d, err := s.Diff(r.Context(), fromRepo, fromRef, fromPlatform, toRepo, toRef, toPlatform)
	respond(w, r, d, err)
}

// Diff compares two images (each read as the caller): config, layers, files, sizes. The
// authorizer must let the caller pull both before either is read.
func (s *Service) Diff(ctx context.Context, fromRepo, fromRef, fromPlatform, toRepo, toRef, toPlatform string) (api.ImageDiff, error) {
	var out api.ImageDiff
	for _, repo := range []string{fromRepo, toRepo} {
		if err := validRepository(repo); err != nil {
			return out, err
		}
		if err := s.authz.Authorize(ctx, repo, access.Pull); err != nil {
			return out, err
		}
	}
	a, err := s.resolve(ctx, fromRepo, fromRef, fromPlatform)
	if err != nil {
		return out, err
	}
	b, err := s.resolve(ctx, toRepo, toRef, toPlatform)
	if err != nil {
		return out, err
	}
	fa, _, err := s.filesystem(ctx, a)
	if err != nil {
		return out, err
	}
	fb, _, err := s.filesystem(ctx, b)
	if err != nil {
		return out, err
	}
	side := func(img *image, fs *filesystem) api.DiffSide {
		size := img.manifest.Config.Size
		for _, l := range img.layers {
			size += l.size
		}
		return api.DiffSide{Repository: img.repository, Reference: img.reference, Digest: img.digest, Platform: img.platform, Size: size, Files: fs.files, FilesSize: fs.bytes}
	}
	out.From, out.To = side(a, fa), side(b, fb)
	out.SizeDelta = out.To.Size - out.From.Size
	out.FilesSizeDelta = out.To.FilesSize - out.From.FilesSize
	out.Config = configChanges(configSummary(a.config), configSummary(b.config))

	inA, inB := map[string]bool{}, map[string]bool{}
	for _, l := range a.layers {
		inA[l.digest] = true
	}
	for _, l := range b.layers {
		inB[l.digest] = true
	}
	info := func(l layerRef) api.LayerInfo {
		return api.LayerInfo{Index: l.index, Digest: l.digest, MediaType: l.mediaType, Size: l.size}
	}
	out.SharedLayers, out.AddedLayers, out.RemovedLayers = []api.LayerInfo{}, []api.LayerInfo{}, []api.LayerInfo{}
	for _, l := range b.layers {
		if inA[l.digest] {
			out.SharedLayers = append(out.SharedLayers, info(l))
		} else {
			out.AddedLayers = append(out.AddedLayers, info(l))
		}
	}
	for _, l := range a.layers {
		if !inB[l.digest] {
			out.RemovedLayers = append(out.RemovedLayers, info(l))
		}
	}

	out.Added, out.Removed, out.Changed = []api.FileEntry{}, []api.FileEntry{}, []api.FileChange{}
	max := s.limits.MaxList
	for _, p := range slices.Sorted(maps.Keys(fb.nodes)) {
		nb := fb.nodes[p]
		na, ok := fa.nodes[p]
		switch {
		case !ok:
			out.AddedCount++
			if len(out.Added) < max {
				out.Added = append(out.Added, nb.e.api(nb.layer))
			}
		case (na.implicit || nb.implicit) && na.e.typ == tDir && nb.e.typ == tDir:
			// A directory only implied by paths below it has no metadata to compare.
		case changed(na.e, nb.e):
			out.ChangedCount++
			if len(out.Changed) < max {
				out.Changed = append(out.Changed, api.FileChange{Path: p, From: na.e.api(na.layer), To: nb.e.api(nb.layer), SizeDelta: nb.e.size - na.e.size})
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(fa.nodes)) {
		if _, ok := fb.nodes[p]; !ok {
			out.RemovedCount++
			if len(out.Removed) < max {
				n := fa.nodes[p]
				out.Removed = append(out.Removed, n.e.api(n.layer))
			}
		}
	}
	out.Truncated = out.AddedCount > len(out.Added) || out.RemovedCount > len(out.Removed) || out.ChangedCount > len(out.Changed)
	return out, nil
}

// changed reports whether a path differs between two images as far as tar headers tell:
// type, size, mode, owner, modification time or link target. Directories differ only in
// their own metadata, not because their contents did.
func changed(a, b entry) bool {
	if a.typ != b.typ || a.mode != b.mode || a.uid != b.uid || a.gid != b.gid || a.link != b.link {
		return true
	}
	if a.typ == tDir {
		return false
	}
	return a.size != b.size || a.mtime != b.mtime
}

// configChanges lists the config values that differ.
func configChanges(a, b api.ImageConfig) []api.ConfigChange {
	out := []api.ConfigChange{}
	one := func(field, from, to string) {
		if from != to {
			out = append(out, api.ConfigChange{Field: field, From: from, To: to})
		}
	}
	keyed := func(field string, from, to map[string]string) {
		for _, k := range slices.Sorted(maps.Keys(union(from, to))) {
			if from[k] != to[k] {
				out = append(out, api.ConfigChange{Field: field, Key: k, From: from[k], To: to[k]})
			}
		}
	}
	envMap := func(env []string) map[string]string {
		m := map[string]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return m
	}
	setMap := func(items []string) map[string]string {
		m := map[string]string{}
		for _, it := range items {
			m[it] = it
		}
		return m
	}
	keyed("env", envMap(a.Env), envMap(b.Env))
	one("entrypoint", quoteArgs(a.Entrypoint), quoteArgs(b.Entrypoint))
	one("cmd", quoteArgs(a.Cmd), quoteArgs(b.Cmd))
	one("user", a.User, b.User)
	one("workingDir", a.WorkingDir, b.WorkingDir)
	keyed("ports", setMap(a.ExposedPorts), setMap(b.ExposedPorts))
	keyed("volumes", setMap(a.Volumes), setMap(b.Volumes))
	keyed("labels", a.Labels, b.Labels)
	one("os/arch", a.OS+"/"+a.Architecture, b.OS+"/"+b.Architecture)
	return out
}

func union(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, b)
	return out
}

// quoteArgs renders an exec-form list as a Dockerfile does: ["a", "b"].
func quoteArgs(args []string) string {
	if args == nil {
		return ""
	}
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = `"` + strings.ReplaceAll(a, `"`, `\"`) + `"`
	}
	return "[" + strings.Join(q, ", ") + "]"
}
