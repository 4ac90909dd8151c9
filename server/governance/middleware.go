package governance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
)

// maxManifest is the largest manifest body the middleware reads, as distribution's limit.
const maxManifest = 4 << 20

// Middleware guards a /v2 handler (Berth's proxy, the embedded registry): a manifest PUT or
// DELETE in a namespace with policies is checked before it is passed on, and refused in the
// registry's error format. Only requests whose token grants the write are checked; the rest
// pass for the registry to answer 401 or 403 as usual, so a refusal tells nothing (which tags
// exist, a namespace's usage) to someone who could not write anyway, and costs no walk.
func (s *Service) Middleware(next http.Handler) http.Handler {
	if s.o.Grants == nil {
		panic("governance: Middleware needs Options.Grants")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, ref, ok := manifestPath(r)
		if !ok || auth.NamespaceOf(repo) == "" {
			next.ServeHTTP(w, r)
			return
		}
		action := "push"
		if r.Method == http.MethodDelete {
			action = "delete"
		}
		if !s.o.Grants(r.Context(), r.Header.Get("Authorization"), repo, action) {
			next.ServeHTTP(w, r)
			return
		}
		p, err := s.policies(r.Context(), auth.NamespaceOf(repo))
		if err == nil && len(p.rules) == 0 && !p.hasQuota {
			next.ServeHTTP(w, r)
			return
		}
		ch := registry.Change{Repository: repo, Ref: ref, Delete: r.Method == http.MethodDelete}
		if err == nil && !ch.Delete {
			err = readManifest(r, &ch)
		}
		if err == nil {
			err = s.Check(r.Context(), ch)
		}
		if err != nil {
			writeRegistry(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// manifestPath picks repository and reference out of PUT or DELETE /v2/<name>/manifests/<ref>
// when both are valid names (anything else is the registry's to refuse).
func manifestPath(r *http.Request) (repo, ref string, ok bool) {
	if r.Method != http.MethodPut && r.Method != http.MethodDelete {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/manifests/")
	if i <= 0 {
		return "", "", false
	}
	repo, ref = rest[:i], rest[i+len("/manifests/"):]
	if registry.ValidateRepository(repo) != nil {
		return "", "", false
	}
	if registry.ValidateTag(ref) != nil && registry.ValidateDigest(ref) != nil {
		return "", "", false
	}
	return repo, ref, true
}

// readManifest reads the body of a manifest PUT into ch, leaving it to be read again.
func readManifest(r *http.Request, ch *registry.Change) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxManifest+1))
	if err != nil {
		return httperr.Wrap(api.CodeBadRequest, "reading the manifest failed", err)
	}
	if len(raw) > maxManifest {
		return httperr.New(api.CodeTooLarge, "manifest larger than 4 MiB")
	}
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(raw))
	r.ContentLength = int64(len(raw))
	sum := sha256.Sum256(raw)
	ch.Raw, ch.MediaType, ch.Digest = raw, r.Header.Get("Content-Type"), "sha256:"+hex.EncodeToString(sum[:])
	return nil
}

// writeRegistry answers err in the registry's format.
func writeRegistry(w http.ResponseWriter, err error) {
	var he *httperr.Error
	if !errors.As(err, &he) {
		he = httperr.Wrap(api.CodeRegistryUnavailable, "checking the namespace's policies failed", err)
	}
	code := string(he.Code)
	switch he.Code {
	case api.CodeTooLarge:
		code = "MANIFEST_INVALID"
	case api.CodeStoreUnavailable, api.CodeRegistryUnavailable, api.CodeRegistryTimeout, api.CodeRegistryError:
		code = "UNAVAILABLE"
	}
	httperr.WriteRegistry(w, he.Code.Status(), code, he.Message, nil)
}
