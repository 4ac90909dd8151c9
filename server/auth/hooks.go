package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// The hooks below are how the rest of Berth asks the one policy. Each is small on purpose:
//
//   - Principals (after the session middleware): the caller's credentials are checked on
//     every request, so a disabled user's session or a revoked token stops at once; the
//     Subject goes into the context (SubjectFrom).
//   - CheckSignIn: session sign-in against local accounts instead of the registry.
//   - FilterCatalog: the repository list read with Berth's service token, filtered per user.
//   - Readable: every catalog read of one repository (tags, search hits, manifests, usage),
//     index and caches included, asks it first.
//   - GuardJobs: job start needs push/delete rights on the repositories the job writes.
//   - Decide (Policy): for the reads the lead plugs in later (/v2 proxy, charts, contents).

type subjectKey struct{}

// WithSubject returns ctx carrying sub.
func WithSubject(ctx context.Context, sub Subject) context.Context {
	return context.WithValue(ctx, subjectKey{}, sub)
}

// SubjectFrom returns the subject Principals put into ctx (anonymous when none).
func SubjectFrom(ctx context.Context) Subject {
	sub, _ := ctx.Value(subjectKey{}).(Subject)
	return sub
}

// Principals checks the principal the session middleware put into the request (a session's
// or Basic credentials) against the accounts on every request: credentials that no longer
// sign in (wrong, disabled user, revoked token) are dropped, and the request goes on as
// anonymous. The Subject and the client address go into the context.
func (a *Accounts) Principals(trusted func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := WithClient(r.Context(), trusted(r))
			sub := Subject{Kind: Anonymous}
			if p, ok := registry.PrincipalFrom(ctx); ok {
				cfg, err := p.Auth.Authorization()
				if err == nil {
					sub, err = a.Authenticate(ctx, cfg.Username, cfg.Password)
				}
				if err != nil {
					if !errors.Is(err, ErrBadCredentials) {
						httperr.Write(w, r, storeErr(err, "The account"))
						return
					}
					// No longer valid: the request is anonymous, and reads nothing as them.
					sub = Subject{Kind: Anonymous}
					ctx = registry.WithPrincipal(ctx, registry.Principal{})
				}
			}
			next.ServeHTTP(w, r.WithContext(WithSubject(ctx, sub)))
		})
	}
}

// CheckSignIn is session.Checker for access control: the credentials are checked against the
// local accounts (a password or a personal access token; robots do not sign in to the UI),
// and every attempt goes to the audit log.
func (a *Accounts) CheckSignIn(ctx context.Context, auth authn.Authenticator) error {
	cfg, err := auth.Authorization()
	if err != nil {
		return err
	}
	sub, err := a.Authenticate(ctx, cfg.Username, cfg.Password)
	if err == nil && sub.Kind != UserKind {
		err = ErrBadCredentials
	}
	if err != nil && !errors.Is(err, ErrBadCredentials) {
		return storeErr(err, "The account")
	}
	a.Audit(ctx, store.AuditEntry{Actor: cfg.Username, Action: AuditSignIn, OK: err == nil, Detail: map[bool]string{true: "signed in", false: "refused"}[err == nil]})
	return err
}

// WithClientAddr puts the client's address into the request context (for the sign-in
// audit entries).
func WithClientAddr(addr func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(WithClient(r.Context(), addr(r))))
	})
}

// FilterCatalog returns a catalog lister for catalog.Options: the whole catalog read by
// list (with Berth's service token), cut to what the subject in the context may pull.
func (p *Policy) FilterCatalog(list func(context.Context) ([]string, error)) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		names, err := list(ctx)
		if err != nil {
			return nil, err
		}
		return p.Filter(ctx, SubjectFrom(ctx), names)
	}
}

// Readable is catalog.Options.Access: nil when the subject in the context may pull
// repository, otherwise 401 for an anonymous caller (sign in) and 403 for anyone else. The
// answer is the same whether or not the repository exists, so it tells nothing of someone
// else's. It asks the policy only: no registry round trip.
func (p *Policy) Readable(ctx context.Context, repository string) error {
	sub := SubjectFrom(ctx)
	held, err := p.Decide(ctx, sub, repository)
	if err != nil {
		return storeErr(err, "The account")
	}
	if held.Has(Pull) {
		return nil
	}
	if sub.Kind == Anonymous {
		return httperr.New(api.CodeUnauthorized, fmt.Sprintf("Sign in to read %s.", repository))
	}
	return httperr.New(api.CodeDenied, fmt.Sprintf("You may not pull %s.", repository))
}

// maxJobRequest matches the jobs API's own bound on a request.
const maxJobRequest = 1 << 20

// GuardJobs lets POST /api/v1/jobs through only when the subject may do what the job does:
// delete (delete), retag (push), copy (pull the source, push the destination), cleanup
// (delete; a dry run only pulls). A refusal is a 403 and an audit entry. The body is read
// here and handed on unchanged; the jobs handler still validates it.
func (a *Accounts) GuardJobs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJobRequest))
		if err != nil {
			httperr.Write(w, r, httperr.New(api.CodeTooLarge, fmt.Sprintf("The job request is larger than %d bytes.", maxJobRequest)))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req api.JobRequest
		if json.Unmarshal(body, &req) != nil {
			next.ServeHTTP(w, r) // the jobs handler says what is wrong with it
			return
		}
		sub := SubjectFrom(r.Context())
		for _, need := range JobNeeds(req) {
			held, err := a.policy.Decide(r.Context(), sub, need.Repository)
			if err != nil {
				httperr.Write(w, r, storeErr(err, "The account"))
				return
			}
			if !held.Has(need.Actions) {
				a.Audit(r.Context(), store.AuditEntry{Actor: sub.Name, Action: AuditJobDenied, Target: need.Repository,
					Scope: "repository:" + need.Repository + ":" + need.Actions.String(), Granted: held.String(), Detail: "job " + req.Kind, OK: false})
				code := api.CodeDenied
				if sub.Kind == Anonymous {
					code = api.CodeUnauthorized
				}
				httperr.Write(w, r, httperr.New(code, fmt.Sprintf("You may not %s in %s (you hold: %s).", need.Actions, need.Repository, held)))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Need is what a job needs on one repository.
type Need struct {
	Repository string
	Actions    Actions
}

// GuardImports lets POST /api/v1/imports?repository=… through only when the subject may
// push to the repository, before the archive is read. A refusal is a 403 (401 when
// anonymous) and an audit entry.
func (a *Accounts) GuardImports(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo := r.URL.Query().Get("repository")
		if repo == "" {
			next.ServeHTTP(w, r) // the imports handler says what is missing
			return
		}
		sub := SubjectFrom(r.Context())
		for _, need := range JobNeeds(api.JobRequest{Kind: api.JobImport, Repository: repo}) {
			held, err := a.policy.Decide(r.Context(), sub, need.Repository)
			if err != nil {
				httperr.Write(w, r, storeErr(err, "The account"))
				return
			}
			if !held.Has(need.Actions) {
				a.Audit(r.Context(), store.AuditEntry{Actor: sub.Name, Action: AuditJobDenied, Target: need.Repository,
					Scope: "repository:" + need.Repository + ":" + need.Actions.String(), Granted: held.String(), Detail: "job import", OK: false})
				code := api.CodeDenied
				if sub.Kind == Anonymous {
					code = api.CodeUnauthorized
				}
				httperr.Write(w, r, httperr.New(code, fmt.Sprintf("You may not %s in %s (you hold: %s).", need.Actions, need.Repository, held)))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// JobNeeds lists what req needs on Berth's registry (other registries decide for
// themselves).
func JobNeeds(req api.JobRequest) []Need {
	switch req.Kind {
	case api.JobDelete:
		return []Need{{req.Repository, Delete}}
	case api.JobRetag:
		return []Need{{req.Repository, Pull | Push}}
	case api.JobImport:
		return []Need{{req.Repository, Pull | Push}}
	case api.JobCopy:
		var out []Need
		if req.SourceRegistry == "" && req.Source != "" {
			out = append(out, Need{repositoryOf(req.Source), Pull})
		}
		if req.DestinationRegistry == "" && req.Destination != "" {
			out = append(out, Need{repositoryOf(req.Destination), Push})
		}
		return out
	case api.JobCleanup:
		if req.Rule == nil {
			return nil
		}
		if req.DryRun {
			return []Need{{req.Rule.Repository, Pull}}
		}
		return []Need{{req.Rule.Repository, Pull | Delete}}
	}
	return nil
}

// repositoryOf cuts the tag or digest off repo:tag or repo@digest.
func repositoryOf(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}
