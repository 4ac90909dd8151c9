package events

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// API serves the stored events to the UI:
//
//	GET /api/v1/events?repository=&action=&actor=&since=&before=&limit=&kind=
//	GET /api/v1/stats?range=30d
//	GET /api/v1/stats/{repo...}?range=30d
type API struct {
	store store.Store
	now   func() time.Time
	authz access.Authorizer
}

// NewAPI returns the read API over st. Every answer holds only repositories authz lets the
// caller read: the feed skips the others, a repository's statistics answer authz's refusal,
// and the most-pulled list leaves them out.
func NewAPI(st store.Store, authz access.Authorizer) *API {
	return &API{store: st, now: time.Now, authz: authz}
}

// readable returns a per-request memo of the authorizer's answers.
func (a *API) readable(ctx context.Context) func(repo string) bool {
	memo := map[string]bool{}
	return func(repo string) bool {
		ok, seen := memo[repo]
		if !seen {
			ok = a.authz.Authorize(ctx, repo, access.Pull) == nil
			memo[repo] = ok
		}
		return ok
	}
}

// ServeEvents answers GET /api/v1/events: the activity feed, newest first.
func (a *API) ServeEvents(w http.ResponseWriter, r *http.Request) { a.events(w, r) }

// ServeStats answers GET /api/v1/stats: pushes, pulls and deletes over time, registry-wide.
func (a *API) ServeStats(w http.ResponseWriter, r *http.Request) { a.stats(w, r) }

// ServeRepositoryStats answers GET /api/v1/stats/{repo...}: one repository's statistics.
func (a *API) ServeRepositoryStats(w http.ResponseWriter, r *http.Request) { a.repoStats(w, r) }

const defaultEventLimit = 100

func (a *API) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.Filter{
		Repository:    q.Get("repository"),
		Action:        q.Get("action"),
		Actor:         q.Get("actor"),
		Before:        q.Get("before"),
		ManifestsOnly: q.Get("kind") != "all",
		Limit:         defaultEventLimit,
	}
	switch f.Action {
	case "", store.ActionPush, store.ActionPull, store.ActionDelete, store.ActionMount:
	default:
		httperr.Write(w, r, httperr.New(api.CodeBadRequest, "action must be push, pull, delete or mount"))
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			httperr.Write(w, r, httperr.New(api.CodeBadRequest, "limit must be between 1 and "+strconv.Itoa(store.MaxLimit)))
			return
		}
		f.Limit = n
	}
	var err error
	if f.Since, err = a.instant(q.Get("since")); err != nil {
		httperr.Write(w, r, httperr.Wrap(api.CodeBadRequest, "since must be an RFC 3339 time or a duration such as 24h or 7d", err))
		return
	}
	if f.Until, err = a.instant(q.Get("until")); err != nil {
		httperr.Write(w, r, httperr.Wrap(api.CodeBadRequest, "until must be an RFC 3339 time or a duration such as 24h or 7d", err))
		return
	}
	if f.Repository != "" {
		if err := a.authz.Authorize(r.Context(), f.Repository, access.Pull); err != nil {
			httperr.Write(w, r, err)
			return
		}
	}
	evs, err := a.store.Events(r.Context(), f)
	if err != nil {
		httperr.Write(w, r, unavailable(err))
		return
	}
	canRead := a.readable(r.Context())
	page := api.EventPage{Events: make([]api.Event, 0, len(evs))}
	for _, e := range evs {
		if !canRead(e.Repository) {
			continue
		}
		page.Events = append(page.Events, api.Event{
			ID: e.ID, Timestamp: e.Timestamp, Action: e.Action, Repository: e.Repository, Tag: e.Tag,
			Digest: e.Digest, MediaType: e.MediaType, Size: e.Size, Actor: e.Actor, Addr: e.RequestAddr,
			UserAgent: e.UserAgent, Source: e.Source,
		})
	}
	if len(evs) == f.Limit {
		page.Next = evs[len(evs)-1].ID
	}
	httperr.WriteJSON(w, http.StatusOK, page)
}

// unavailable reports a failed store read as 503 STORE_UNAVAILABLE: the UI shows that the
// activity cannot be read right now, and the details go to the log only.
func unavailable(err error) error {
	return httperr.Wrap(api.CodeStoreUnavailable, "The event store cannot be reached right now; try again shortly.", err)
}

// instant parses an RFC 3339 time, or a duration back from now ("24h", "7d").
func (a *API) instant(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := api.ParseDuration(v)
	if err != nil {
		return time.Time{}, err
	}
	return a.now().Add(-d), nil
}

// window turns ?range= into bucketed [since, until): hourly up to two days, else daily,
// aligned to UTC so every bucket is whole.
func (a *API) window(rng string) (_, bucketName string, bucket time.Duration, since, until time.Time, err error) {
	if rng == "" {
		rng = "30d"
	}
	d, err := api.ParseDuration(rng)
	if err != nil || d < time.Hour || d > 366*24*time.Hour {
		return "", "", 0, time.Time{}, time.Time{}, httperr.New(api.CodeBadRequest, "range must be between 1h and 366d, such as 24h or 30d")
	}
	bucket, bucketName = 24*time.Hour, "day"
	if d <= 48*time.Hour {
		bucket, bucketName = time.Hour, "hour"
	}
	until = a.now().UTC().Truncate(bucket).Add(bucket)
	since = until.Add(-d.Truncate(bucket))
	if !since.Before(until) {
		since = until.Add(-bucket)
	}
	return rng, bucketName, bucket, since, until, nil
}

func counts(bs []store.Bucket) []api.DayCount {
	out := make([]api.DayCount, len(bs))
	for i, b := range bs {
		out[i] = api.DayCount{Start: b.Start, Pushes: b.Pushes, Pulls: b.Pulls}
	}
	return out
}

func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	rng, bucketName, bucket, since, until, err := a.window(r.URL.Query().Get("range"))
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	bs, err := a.store.Counts(r.Context(), "", bucket, since, until)
	if err != nil {
		httperr.Write(w, r, unavailable(err))
		return
	}
	top, err := a.store.TopPulled(r.Context(), since, 10)
	if err != nil {
		httperr.Write(w, r, unavailable(err))
		return
	}
	out := api.Stats{Range: rng, Bucket: bucketName, Counts: counts(bs), TopPulled: make([]api.PullCount, 0, len(top))}
	canRead := a.readable(r.Context())
	for _, t := range top {
		if !canRead(t.Repository) {
			continue
		}
		out.TopPulled = append(out.TopPulled, api.PullCount{Repository: t.Repository, Pulls: t.Count})
	}
	httperr.WriteJSON(w, http.StatusOK, out)
}

func (a *API) repoStats(w http.ResponseWriter, r *http.Request) {
	out, err := a.RepositoryStats(r.Context(), r.PathValue("repo"), r.URL.Query().Get("range"))
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	httperr.WriteJSON(w, http.StatusOK, out)
}

// RepositoryStats is a repository's pushes and pulls over rng ("" for 30d) and its last push
// and pull, for the caller in ctx, who must be allowed to pull it.
func (a *API) RepositoryStats(ctx context.Context, repo, rng string) (api.RepositoryStats, error) {
	if repo == "" {
		return api.RepositoryStats{}, httperr.New(api.CodeBadRequest, "no repository name in the path")
	}
	// Names are checked where they enter: nothing else reaches the authorizer or the store.
	if err := registry.ValidateRepository(repo); err != nil {
		return api.RepositoryStats{}, err
	}
	if err := a.authz.Authorize(ctx, repo, access.Pull); err != nil {
		return api.RepositoryStats{}, err
	}
	rng, bucketName, bucket, since, until, err := a.window(rng)
	if err != nil {
		return api.RepositoryStats{}, err
	}
	bs, err := a.store.Counts(ctx, repo, bucket, since, until)
	if err != nil {
		return api.RepositoryStats{}, unavailable(err)
	}
	act, err := a.store.LastActivity(ctx, repo)
	if err != nil {
		return api.RepositoryStats{}, unavailable(err)
	}
	return api.RepositoryStats{
		Repository: repo, Range: rng, Bucket: bucketName, Counts: counts(bs),
		LastPush: act.LastPush, LastPull: act.LastPull,
	}, nil
}
