// Package store keeps registry events (pushes, pulls, deletes), the tag→digest state they
// imply, and the metadata index (index.go). Store is the interface; Open picks the SQLite or
// PostgreSQL implementation by DSN. SQL lives only in this package.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Actions a registry reports.
const (
	ActionPush   = "push"
	ActionPull   = "pull"
	ActionDelete = "delete"
	ActionMount  = "mount"
)

// Where an event came from.
const (
	// SourceWebhook marks events the registry delivered to the notification endpoint.
	SourceWebhook = "webhook"
	// SourceSync marks events synthesized by the reconciliation sync for changes the webhook
	// missed.
	SourceSync = "sync"
)

// Event is one registry event as stored.
type Event struct {
	// ID is the registry's event id; events are deduplicated by it.
	ID        string
	Timestamp time.Time
	Action    string
	// Repository, Tag, Digest, MediaType, Size, Length, URL and References describe the target.
	Repository string
	Tag        string
	Digest     string
	MediaType  string
	Size       int64
	Length     int64
	URL        string
	// References are the digests the target manifest refers to.
	References []string
	// Actor is the authenticated user, if any.
	Actor string
	// Request* describe the HTTP request that caused the event.
	RequestID     string
	RequestAddr   string
	RequestHost   string
	RequestMethod string
	UserAgent     string
	// SourceAddr and SourceInstance identify the registry instance.
	SourceAddr     string
	SourceInstance string
	// Source is SourceWebhook or SourceSync.
	Source string
}

// Manifest reports whether the event is about a manifest (image, index, artifact) rather than
// a blob; only manifest events count as pushes and pulls in statistics.
func (e Event) Manifest() bool {
	return e.Tag != "" || IsManifestMediaType(e.MediaType)
}

// IsManifestMediaType reports whether mt is a Docker or OCI manifest or index media type.
func IsManifestMediaType(mt string) bool {
	return strings.Contains(mt, "manifest") || strings.Contains(mt, "image.index")
}

// Filter selects events. Zero fields do not filter.
type Filter struct {
	Repository string
	Action     string
	Actor      string
	// Since and Until bound the timestamp: Since ≤ t < Until.
	Since, Until time.Time
	// ManifestsOnly drops blob events and manifest HEADs reported as pulls, as the
	// statistics do.
	ManifestsOnly bool
	// Before is the id of the last event of the previous page; results are older than it.
	Before string
	// Limit caps the result; 0 or more than MaxLimit means MaxLimit.
	Limit int
}

// MaxLimit is the most events one Events call returns.
const MaxLimit = 1000

// Bucket counts manifest pushes and pulls in [Start, Start+bucket).
type Bucket struct {
	Start  time.Time
	Pushes int
	Pulls  int
}

// RepositoryCount is a repository and how often something happened to it.
type RepositoryCount struct {
	Repository string
	Count      int
}

// Activity is the last push and pull of a repository; zero times mean never (or pruned).
type Activity struct {
	LastPush time.Time
	LastPull time.Time
}

// TagRef is one tag and the digest it points to, as the stored events imply.
type TagRef struct {
	Repository string
	Tag        string
	// Digest is empty for a deleted tag (DeletedTags).
	Digest string
	// Updated is the timestamp of the event that last changed the tag: the push that set it,
	// or the delete that removed it.
	Updated time.Time
}

// LayerIndex is the file index of one layer blob. The store keeps Data as it is given: its
// encoding belongs to the package that builds indexes (server/contents).
type LayerIndex struct {
	// Digest is the layer blob's digest (algorithm:hex), the key.
	Digest string
	// Entries counts the entries of the layer's tar; Files its regular files.
	Entries int
	Files   int
	// Data is the encoded index; LayerIndexStats leaves it nil.
	Data []byte
	// Created is when the index was stored.
	Created time.Time
}

// Store persists events. Implementations are safe for concurrent use.
type Store interface {
	// AddEvents stores events in one transaction, skipping ids already stored, and updates
	// the tag state from push and delete events. When it returns nil, the events are durable.
	// added counts the events that were new. An error wrapping ErrRejected means the events
	// themselves cannot be stored (an event without id, text the database refuses, a value
	// over one of its limits): trying them again will fail again, unlike an outage.
	AddEvents(ctx context.Context, events []Event) (added int, err error)
	// Events returns the events matching f, newest first.
	Events(ctx context.Context, f Filter) ([]Event, error)
	// Counts returns manifest pushes and pulls of repo (all repositories when empty) per
	// bucket in [since, until), oldest first, with empty buckets included.
	Counts(ctx context.Context, repo string, bucket time.Duration, since, until time.Time) ([]Bucket, error)
	// TopPulled returns the repositories with the most manifest pulls since then.
	TopPulled(ctx context.Context, since time.Time, limit int) ([]RepositoryCount, error)
	// LastActivity returns when repo was last pushed and pulled.
	LastActivity(ctx context.Context, repo string) (Activity, error)
	// Tags returns the tag→digest state the stored events imply, for every repository.
	Tags(ctx context.Context) ([]TagRef, error)
	// DeletedTags returns the tags the stored events deleted (and no later push set again),
	// with Digest empty and Updated the time of the delete. A late, older push does not bring
	// such a tag back; Prune forgets deletions older than its cutoff.
	DeletedTags(ctx context.Context) ([]TagRef, error)
	// Prune deletes events older than olderThan and returns how many went.
	Prune(ctx context.Context, olderThan time.Time) (int, error)
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// LayerIndex returns the file index stored for the layer blob digest; ok is false when
	// none is stored.
	LayerIndex(ctx context.Context, digest string) (idx LayerIndex, ok bool, err error)
	// PutLayerIndex stores idx under its digest. A layer's index depends only on its content,
	// so when one is stored already (another replica got there first) the stored one stays
	// and PutLayerIndex still returns nil. When it returns nil, the index is durable.
	PutLayerIndex(ctx context.Context, idx LayerIndex) error
	// LayerIndexStats returns the counts of the stored indexes among digests, without their
	// data; digests without an index are missing from the map.
	LayerIndexStats(ctx context.Context, digests []string) (map[string]LayerIndex, error)
	JobStore
	// ListenJobEvents calls heard with the job of every AddJobEvents, on any replica, until
	// ctx is done or the connection fails; ErrNoListen means this database cannot and
	// readers must poll.
	ListenJobEvents(ctx context.Context, heard func(job int64)) error
	// Backend is the database handle River keeps its own tables in: the same database.
	Backend() Backend
	// Index keeps the metadata index; AddEvents keeps its tags in step with push and delete
	// events in the same transaction.
	Index
	// Scans keeps Berth's own scan reports and its vulnerability database.
	Scans
	// Close releases the database.
	Close() error
}

// Backend is the database under a Store, for the job queue (River), which brings its own
// SQL. Exactly one field is set.
type Backend struct {
	// SQLite is a handle of its own on the SQLite file with one connection, as River's
	// SQLite driver wants: SQLite has one writer at a time anyway.
	SQLite *sql.DB
	// Postgres is the store's pgx pool.
	Postgres *pgxpool.Pool
}

// ErrRejected marks a write the database refused because of what was written, not because
// it is unreachable; see AddEvents.
var ErrRejected = errors.New("store: rejected")

// ErrBadDSN is returned by Open for a DSN it cannot use.
var ErrBadDSN = errors.New("store: unsupported database DSN")

// Open connects to the database dsn names and migrates its schema: postgres:// or
// postgresql:// URLs use PostgreSQL; "sqlite:PATH" or a plain file path use SQLite.
func Open(ctx context.Context, dsn string) (Store, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return OpenPostgres(ctx, dsn)
	case strings.HasPrefix(dsn, "sqlite:"):
		return OpenSQLite(ctx, strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//"))
	case dsn == "" || strings.Contains(dsn, "://"):
		return nil, fmt.Errorf("%w: %q (want postgres://…, sqlite:PATH or a file path)", ErrBadDSN, redact(dsn))
	}
	return OpenSQLite(ctx, dsn)
}

// redact hides a password in a DSN, so errors can be logged.
func redact(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return dsn
	}
	return dsn[:scheme+3] + "…" + dsn[at:]
}
