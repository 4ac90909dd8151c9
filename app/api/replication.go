package api

import "time"

// MainRegistry names the registry Berth fronts among registry endpoints.
const MainRegistry = "main"

// RegistryEndpoint is a registry Berth reaches by name: the main one, or one an administrator
// added. Its password goes in (Password) and never comes out: HasPassword says one is kept.
type RegistryEndpoint struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// HasPassword is set in answers when a password is kept (sealed) for the endpoint.
	HasPassword bool `json:"hasPassword,omitempty"`
	// CAFile is a PEM bundle (a path on the server) trusted for the registry's TLS.
	CAFile string `json:"caFile,omitempty"`
	// Insecure skips TLS verification.
	Insecure bool `json:"insecure,omitempty"`
	// NoCatalog says the registry refuses _catalog: rules name its repositories instead.
	NoCatalog bool `json:"noCatalog,omitempty"`
	// Repositories are listed when browsing the endpoint where it refuses _catalog, besides
	// the names opened there.
	Repositories []string `json:"repositories,omitempty"`
	// Origin is "main", "flag" (--extra-registry) or "api"; only "api" ones can be removed.
	Origin string `json:"origin,omitempty"`
}

// EndpointTest is the answer of a connection test.
type EndpointTest struct {
	OK      bool   `json:"ok"`
	Message string `json:"message"`
	// Catalog is whether _catalog answered.
	Catalog bool `json:"catalog"`
}

// Replication triggers.
const (
	TriggerManual   = "manual"
	TriggerPush     = "push"
	TriggerSchedule = "schedule"
)

// ReplicationRule copies repositories matching its filters from one endpoint to another.
type ReplicationRule struct {
	ID          string `json:"id,omitempty"`
	Name        string `json:"name"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
	// Repositories is a glob over repository names ("team/**"); "" means every one.
	Repositories string `json:"repositories,omitempty"`
	// Tags is a glob over tags ("v*"); TagRegex a regular expression a tag must match whole;
	// SemVer a range ("^1.2", ">=2 <3") tags must parse into and satisfy. All given must hold.
	Tags     string `json:"tags,omitempty"`
	TagRegex string `json:"tagRegex,omitempty"`
	SemVer   string `json:"semver,omitempty"`
	// Labels are image config labels an image must carry, comma-separated: "name=value" for
	// a value, "name" for any ("com.example.team=payments, org.opencontainers.image.source").
	// An index is taken when one of its platforms carries them all.
	Labels string `json:"labels,omitempty"`
	// NoReferrers leaves signatures, SBOMs and attestations behind (copied by default).
	NoReferrers bool `json:"noReferrers,omitempty"`
	// Deletions propagates tag deletions at the source to the destination.
	Deletions bool `json:"deletions,omitempty"`
	// Overwrite lets the rule move a destination tag that points at another image.
	Overwrite bool `json:"overwrite,omitempty"`
	// Prefix is put before every destination repository name ("mirror/").
	Prefix string `json:"prefix,omitempty"`
	// Trigger is TriggerManual, TriggerPush or TriggerSchedule (with Schedule, a cron
	// expression such as "0 3 * * *" or "@hourly").
	Trigger  string    `json:"trigger"`
	Schedule string    `json:"schedule,omitempty"`
	Created  time.Time `json:"created,omitzero"`
}

// Replication run states.
const (
	RunQueued    = "queued"
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	// RunPartial: some artifacts failed after their retries, the others were copied.
	RunPartial = "partial"
	RunFailed  = "failed"
)

// ReplicationRun is one run of a rule: what it planned, did and failed at.
type ReplicationRun struct {
	ID      string    `json:"id"`
	Rule    string    `json:"rule"`
	Trigger string    `json:"trigger"`
	DryRun  bool      `json:"dryRun,omitempty"`
	State   string    `json:"state"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// Duration is Ended-Started in milliseconds.
	DurationMS int64 `json:"durationMs,omitempty"`
	Copied     int   `json:"copied"`
	Skipped    int   `json:"skipped"`
	Deleted    int   `json:"deleted"`
	Failed     int   `json:"failed"`
	Bytes      int64 `json:"bytes"`
	// Error is why the whole run failed (listing the source, an endpoint gone).
	Error string `json:"error,omitempty"`
	// Items are the artifacts the run planned (a dry run: what it would do), at most 1000.
	Items []ReplicationItem `json:"items,omitempty"`
}

// Replication item actions.
const (
	ItemCopy   = "copy"
	ItemDelete = "delete"
	ItemSkip   = "skip"
)

// ReplicationItem is one artifact of a run: a tag copied, skipped or deleted.
type ReplicationItem struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Digest      string `json:"digest,omitempty"`
	Action      string `json:"action"`
	// Reason says why an artifact is skipped ("up to date", "exists, no overwrite").
	Reason   string `json:"reason,omitempty"`
	Done     bool   `json:"done,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	Error    string `json:"error,omitempty"`
}
