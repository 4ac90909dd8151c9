package catalog

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// TagNames returns every tag of the repository, sorted, without details: the UI shows the
// rows at once and fills in details page by page.
func (s *Service) TagNames(ctx context.Context, repository string) (api.TagPage, error) {
	if err := s.authorizeList(ctx, repository); err != nil {
		return api.TagPage{}, err
	}
	s.open(repository)
	changed := s.changes.token(repository) // before the list is read: a change after it is told
	names, err := s.tagNames(ctx, repository)
	if err != nil {
		return api.TagPage{}, err
	}
	page := api.TagPage{Repository: repository, Total: len(names), Limit: len(names), PullHost: s.pullHost, Changes: changed, Tags: make([]api.Tag, len(names))}
	for i, n := range names {
		page.Tags[i].Name = n
	}
	s.labelTags(ctx, &page)
	return page, nil
}

// KeptTagNames lists the repository's tags, sorted, as the caller in ctx last listed them
// (a list younger than TagTTL as it is; one younger than a minute while it is listed again in
// the background), or else from the registry as the caller. Access is the caller's to have
// checked: nothing more than the registry's list is answered.
func (s *Service) KeptTagNames(ctx context.Context, repository string) ([]string, error) {
	return s.tagNames(ctx, repository)
}

// CanReadList is CanRead for an answer made from the caller's kept tag list (KeptTagNames):
// while the caller keeps a recent one, the registry's access check asks for one tag.
func (s *Service) CanReadList(ctx context.Context, repository string) error {
	return s.authorizeList(ctx, repository)
}

// CanRead answers nil when the caller in ctx may read the repository, or why not: the
// Authorizer's answer.
func (s *Service) CanRead(ctx context.Context, repository string) error {
	return s.authorize(ctx, repository)
}

// authorizeList is authorize for an answer made from the repository's tag list: when the
// caller keeps a recent one (refreshed in the background, see tagNames), the registry's
// access check asks for one tag, not for the list the answer would not use.
func (s *Service) authorizeList(ctx context.Context, repository string) error {
	if _, ok := s.recentTagNames(ctx, repository); ok {
		ctx = registry.WithListKept(ctx)
	}
	return s.authorize(ctx, repository)
}

// tagNames lists a repository's tags, sorted, reusing a list younger than TagTTL, and one
// younger than maxStale while it is listed again in the background.
func (s *Service) tagNames(ctx context.Context, repository string) ([]string, error) {
	if err := registry.ValidateRepository(repository); err != nil {
		return nil, err
	}
	st := s.state(ctx)
	st.cacheMu.Lock()
	e, ok := st.lists[repository]
	st.cacheMu.Unlock()
	if ok && time.Since(e.at) < s.tagTTL {
		return e.names, nil
	}
	if ok && time.Since(e.at) < maxStale {
		// Answered at once, and listed again in the background for the next answer (one
		// refresh per caller and repository at a time, once the answer is built): a page
		// never waits on the registry for a list it had moments ago (a change Berth is
		// told of drops the list, so it is read at once then).
		key := principalOf(ctx) + "\x00" + repository
		if _, running := s.refreshing.LoadOrStore(key, true); !running {
			go func() {
				defer s.refreshing.Delete(key)
				bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.reg.Timeout())
				defer cancel()
				// After the page that asked is out (≤ 0.1 s): a 10,000-tag list costs the
				// registry and Berth 70–100 ms of CPU, which the page would otherwise share.
				s.reval.yield(bctx, repository)
				if _, err := s.listTags(bctx, st, repository); err != nil {
					slog.Debug("catalog: list tags again", "repository", repository, "err", err)
				}
			}()
		}
		return e.names, nil
	}
	return s.listTags(ctx, st, repository)
}

// recentTagNames is the caller's tag list of repository as last read from the registry, if
// that was within maxStale (pages read it again in the background meanwhile).
func (s *Service) recentTagNames(ctx context.Context, repository string) ([]string, bool) {
	st := s.state(ctx)
	st.cacheMu.Lock()
	defer st.cacheMu.Unlock()
	e, ok := st.lists[repository]
	return e.names, ok && time.Since(e.at) < maxStale
}

// listTags reads a repository's tag list from the registry as the caller in ctx, once for
// concurrent callers, and keeps it in the caller's state.
func (s *Service) listTags(ctx context.Context, st *state, repository string) ([]string, error) {
	v, err, _ := s.flight.Do("list/"+principalOf(ctx)+"/"+repository, func() (any, error) {
		names, err := s.reg.Tags(ctx, repository)
		if err != nil {
			return nil, err
		}
		st.cacheMu.Lock()
		if len(st.lists) > 10_000 {
			clear(st.lists)
		}
		prev, had := st.lists[repository]
		st.lists[repository] = listEntry{names: names, at: time.Now()}
		st.cacheMu.Unlock()
		if had && !slices.Equal(prev.names, names) {
			s.changes.changed(repository) // tags added or gone behind Berth's back
		}
		s.visited(ctx, st, repository)
		return names, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]string), nil
}

// head resolves a tag to its descriptor, trusting an answer younger than TagTTL. A tag seen
// before is revalidated with a HEAD; one never seen is fetched with a GET, which costs the same
// round trip and brings the manifest along, so a cold page makes one request less per tag.
func (s *Service) head(ctx context.Context, repository, tag string) (v1.Descriptor, error) {
	st := s.state(ctx)
	key := repository + ":" + tag
	st.cacheMu.Lock()
	e, ok := st.tags[key]
	st.cacheMu.Unlock()
	if ok && time.Since(e.at) < s.tagTTL {
		return e.desc, nil
	}
	var desc v1.Descriptor
	if ok {
		d, err := s.reg.Head(ctx, repository, tag)
		if err != nil {
			return desc, err
		}
		desc = d
	} else {
		// Once for concurrent callers (the rows in view and every tag, asked for together),
		// past the one who started it (bounded by the registry client's timeout): the others
		// must not get its cancellation.
		v, err, _ := s.flight.Do("get/"+flightKey(ctx)+"/"+key, func() (any, error) {
			ctx := context.WithoutCancel(ctx)
			m, err := s.reg.Get(ctx, repository, tag)
			if err != nil {
				return nil, err
			}
			// The registry client computed the digest from these very bytes, so they are
			// safe to keep by it (also when the caller who started the read went away).
			s.cache.Set(ctx, "manifest/"+m.Descriptor.Digest.String(), m.Raw)
			return m.Descriptor, nil
		})
		if err != nil {
			return desc, err
		}
		desc = v.(v1.Descriptor)
	}
	st.cacheMu.Lock()
	if len(st.tags) >= maxTagEntries {
		clear(st.tags)
	}
	st.tags[key] = tagEntry{desc: desc, at: time.Now()}
	st.cacheMu.Unlock()
	return desc, nil
}

// TagQuery selects and orders a repository's tags.
type TagQuery struct {
	Offset int
	Limit  int
	// All asks for every tag in one response; Offset and Limit are ignored.
	All bool
	// Sort is name (default), created, size or pushed; "-" first for descending.
	Sort string
	// Name keeps tags whose name contains it (case-insensitive).
	Name string
	// Platform keeps tags with an image for it: os/arch, or os/arch/variant.
	Platform string
	// Kind keeps tags of one kind: image, index, artifact, referrer or schema1.
	Kind string
	// Label keeps tags whose image (or an image of whose index) has a config label:
	// "name" for any value, "name=value" for a value containing value (case-insensitive).
	Label string
	// Indexed asks for a page sorted by another field than the name only if the index
	// orders it: with more than maxUndescribed tags it does not describe yet, the answer is
	// NOT_AVAILABLE at once instead of reading every tag from the registry (a prerendered
	// page goes out without its data rather than spend its budget on a never-seen
	// repository).
	Indexed bool
}

// describeWorkers is how many tags one answer describes from the registry at once, in its
// order, each from its manifest to its config before the next begins. The registry client's
// slots are taken first come, first served: an answer that queued all its tags' manifests at
// once would have every config wait behind every manifest, and a small answer asked for
// alongside (the rows in view, next to every tag) would wait for the big one. Bounded, the
// answers share the slots and each finishes its first tags first.
const describeWorkers = 32

// maxUndescribed is how many tags the index may lack for an Indexed page still to be read:
// a few pushes since the last visit are described on the spot.
const maxUndescribed = 100

func (q TagQuery) check() error {
	switch strings.TrimPrefix(q.Sort, "-") {
	case "", "name", "created", "size", "pushed":
		return nil
	}
	return httperr.New(api.CodeBadRequest, "sort must be name, created, size or pushed, with - first for descending")
}

// needsAll reports whether the page can be chosen only once every tag is described.
func (q TagQuery) needsAll() bool {
	f := strings.TrimPrefix(q.Sort, "-")
	return (f != "" && f != "name") || q.Platform != "" || q.Kind != "" || q.Label != ""
}

// Tags returns the repository's tags that q selects, with their details. Access control's
// word comes first, then the principal's own tag list (the registry's word that the
// principal may read the repository), and only then are indexed rows used.
func (s *Service) Tags(ctx context.Context, repository string, q TagQuery) (api.TagPage, error) {
	if err := q.check(); err != nil {
		return api.TagPage{}, err
	}
	if err := s.authorizeList(ctx, repository); err != nil {
		return api.TagPage{}, err
	}
	defer s.reval.answering(repository, true)() // the background revalidation holds back meanwhile
	s.open(repository)
	changed := s.changes.token(repository) // before anything is read: a change after it is told
	if q.Label != "" && s.idx == nil {
		return api.TagPage{}, httperr.New(api.CodeNotAvailable, "Filtering by label needs Berth's metadata index (a --database).")
	}
	names, err := s.tagNames(ctx, repository)
	if err != nil {
		return api.TagPage{}, err
	}
	if qs := strings.ToLower(q.Name); qs != "" {
		names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !strings.Contains(strings.ToLower(n), qs) })
	}
	if q.Sort == "-name" {
		names = slices.Clone(names)
		slices.Reverse(names)
	}
	page := api.TagPage{Repository: repository, Total: len(names), Offset: q.Offset, Limit: q.Limit, PullHost: s.pullHost, Changes: changed}
	if q.All {
		page.Offset, page.Limit = 0, len(names)
	}
	// Which tags to describe: a page by name is a window of the list; a page sorted by
	// another field is a window the index orders when it describes every tag (presorted,
	// with the stale rows of all of them); otherwise every tag, sorted once described.
	describe, presorted, stale := names, false, []string(nil)
	switch {
	case !q.needsAll() && !q.All:
		describe = window(names, q.Offset, q.Limit)
	case !q.All:
		w, st, missing, ok := s.sortedWindow(ctx, repository, names, q)
		switch {
		case ok:
			describe, presorted, stale = w, true, st
		case q.Indexed && missing > maxUndescribed:
			return api.TagPage{}, httperr.New(api.CodeNotAvailable, fmt.Sprintf("Berth has not indexed %d of this repository's tags yet.", missing))
		}
	}
	var rows map[string]store.IndexedTag
	if s.idx != nil && len(describe) > 0 {
		var only []string
		if len(describe) < len(names) {
			only = describe // a page of a large repository reads only its rows
		}
		list, err := s.idx.IndexTags(ctx, repository, only...)
		if err != nil {
			slog.Warn("index: read tags", "repository", repository, "err", err)
		}
		rows = make(map[string]store.IndexedTag, len(list))
		for _, r := range list {
			rows[r.Tag] = r
		}
	}
	wctx, w := s.withWrites(ctx)
	tags := make([]api.Tag, len(describe))
	var workers errgroup.Group
	workers.SetLimit(describeWorkers)
	for i, t := range describe {
		if ctx.Err() != nil {
			break // the caller went away: no more tags are started (answered below)
		}
		row, ok := rows[t]
		if ok && !presorted && !s.fresh(row.Checked) {
			stale = append(stale, t)
		}
		if ok && row.Manifest != nil {
			tags[i] = indexed(t, row) // no goroutine for what the index answers
			continue
		}
		workers.Go(func() error {
			var r *store.IndexedTag
			if ok {
				r = &row
			}
			tags[i] = s.describeTag(wctx, repository, t, r)
			return nil
		})
	}
	_ = workers.Wait() // describeTag reports failures in the tag, never as an error
	s.flush(ctx, w)
	if len(stale) > 0 {
		s.revalidate(ctx, repository, stale) // in the background: the page never waits on it
	}
	if err := ctx.Err(); err != nil {
		return api.TagPage{}, err
	}
	s.scanFacts(ctx, tags)
	if q.Label != "" {
		// Every tag was described above and its labels written to the index just now.
		name, value, _ := strings.Cut(q.Label, "=")
		labeled, err := s.idx.LabeledTags(ctx, repository, strings.TrimSpace(name), strings.TrimSpace(value))
		if err != nil {
			return api.TagPage{}, storeDown(err)
		}
		keep := make(map[string]bool, len(labeled))
		for _, n := range labeled {
			keep[n] = true
		}
		tags = slices.DeleteFunc(tags, func(t api.Tag) bool { return !keep[t.Name] })
	}
	if q.needsAll() && !presorted {
		tags = slices.DeleteFunc(tags, func(t api.Tag) bool { return !q.keeps(t) })
		q.sort(tags)
		page.Total = len(tags)
		if !q.All {
			tags = window(tags, q.Offset, q.Limit)
		} else {
			page.Limit = len(tags)
		}
	}
	page.Tags = tags
	s.labelTags(ctx, &page)
	return page, nil
}

func window[T any](s []T, offset, limit int) []T {
	if offset >= len(s) {
		return s[:0]
	}
	return s[offset:min(len(s), offset+limit)]
}

func (q TagQuery) keeps(t api.Tag) bool {
	if q.Kind != "" && t.Kind != q.Kind {
		return false
	}
	if q.Platform == "" {
		return true
	}
	want := strings.Split(q.Platform, "/")
	for _, p := range t.Platforms {
		if len(want) >= 2 && p.OS == want[0] && p.Architecture == want[1] && (len(want) == 2 || p.Variant == want[2]) {
			return true
		}
	}
	return false
}

func (q TagQuery) sort(tags []api.Tag) {
	slices.SortFunc(tags, func(a, b api.Tag) int {
		return q.compare(orderKey{a.Name, a.Size, a.Created, a.Pushed}, orderKey{b.Name, b.Size, b.Created, b.Pushed})
	})
	if strings.HasPrefix(q.Sort, "-") {
		slices.Reverse(tags)
	}
}

// orderKey is what a tag page is sorted by.
type orderKey struct {
	name            string
	size            int64
	created, pushed time.Time
}

// compare orders by q's field (ascending), then by name.
func (q TagQuery) compare(a, b orderKey) int {
	switch strings.TrimPrefix(q.Sort, "-") {
	case "created":
		return cmp.Or(a.created.Compare(b.created), strings.Compare(a.name, b.name))
	case "size":
		return cmp.Or(cmp.Compare(a.size, b.size), strings.Compare(a.name, b.name))
	case "pushed":
		return cmp.Or(a.pushed.Compare(b.pushed), strings.Compare(a.name, b.name))
	}
	return strings.Compare(a.name, b.name)
}

// describeTag describes one tag, from its index row where there is one: a stale row is
// shown as it is and revalidated in the background (revalidate.go), so only an undescribed
// digest is read from the registry here.
func (s *Service) describeTag(ctx context.Context, repository, name string, row *store.IndexedTag) api.Tag {
	if row == nil {
		return s.tag(ctx, repository, name)
	}
	if row.Manifest != nil {
		return indexed(name, *row)
	}
	h, err := v1.NewHash(row.Digest)
	if err != nil {
		return s.tag(ctx, repository, name)
	}
	// No tag name: the row's digest is the index's word, not the registry's, so describing
	// it must not mark the row confirmed (the background HEAD does that).
	t := s.describe(ctx, repository, "", v1.Descriptor{Digest: h})
	t.Name, t.Pushed = name, row.Pushed
	if registry.IsReferrerTag(name) {
		t.Kind, t.Platforms = "referrer", nil
	}
	return t
}

// tag resolves a tag to its digest and describes what it points to.
func (s *Service) tag(ctx context.Context, repository, tag string) api.Tag {
	desc, err := s.head(ctx, repository, tag)
	if err != nil {
		return api.Tag{Name: tag, Error: registry.Describe(err)}
	}
	return s.describe(ctx, repository, tag, desc)
}

// describe describes what a tag points to from the digest-keyed cache, fetching only what the
// cache lacks, and records it for the index.
func (s *Service) describe(ctx context.Context, repository, tag string, desc v1.Descriptor) api.Tag {
	t := api.Tag{Name: tag}
	t.Digest, t.MediaType = desc.Digest.String(), string(desc.MediaType)
	sum, err := s.summarize(ctx, repository, desc.Digest, t.MediaType)
	if err != nil {
		t.Error = registry.Describe(err)
	}
	if sum.raw != nil {
		record(ctx, repository, tag, desc, sum, err)
	}
	if sum.m.MediaType != "" && t.MediaType == "" {
		t.MediaType = string(sum.m.MediaType)
	}
	t.Kind, t.Size, t.Created, t.Platforms, t.ArtifactType = sum.kind, sum.size, sum.created, sum.platforms, sum.artifactType
	t.Attestations = len(sum.attestations)
	if registry.IsReferrerTag(tag) {
		// cosign signatures and the OCI referrers fallback index are tagged after the digest
		// they describe; they are accessories, not releases.
		t.Kind, t.Platforms = "referrer", nil
	}
	return t
}
