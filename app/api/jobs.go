package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"
)

// Job kinds POST /api/v1/jobs accepts.
const (
	JobDelete  = "delete"
	JobCopy    = "copy"
	JobRetag   = "retag"
	JobCleanup = "cleanup"
	// JobImport pushes an uploaded docker save or OCI-layout archive; it is started by
	// POST /api/v1/imports, never by POST /api/v1/jobs.
	JobImport = "import"
	// JobScan scans an image for vulnerabilities; it is started by POST /api/v1/scans (or
	// by Berth on a push and on its periodic sweep), never by POST /api/v1/jobs.
	JobScan = "scan"
)

// Job states.
const (
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
)

// Job event types.
const (
	EventPhase    = "phase"
	EventProgress = "progress"
	EventMessage  = "message"
	EventResult   = "result"
	EventError    = "error"
)

// JobRequest is the body of POST /api/v1/jobs. Which fields matter depends on Kind.
type JobRequest struct {
	// Kind is delete, copy, retag or cleanup.
	Kind string `json:"kind"`
	// Repository is the repository deletes and retags work in.
	Repository string `json:"repository,omitempty"`
	// References are the tags or digests to delete.
	References []string `json:"references,omitempty"`
	// Source is what to copy or retag: repo:tag or repo@digest (for retag a tag or digest in
	// Repository).
	Source string `json:"source,omitempty"`
	// Destination is where to copy to: repo:tag, or repo to keep the source's tag (for retag
	// the new tag).
	Destination string `json:"destination,omitempty"`
	// SourceRegistry and DestinationRegistry name other registries by base URL
	// (https://registry.example.com); empty means Berth's registry.
	SourceRegistry      string `json:"sourceRegistry,omitempty"`
	DestinationRegistry string `json:"destinationRegistry,omitempty"`
	// Credentials for SourceRegistry and DestinationRegistry; never stored or logged.
	SourceUsername      string `json:"sourceUsername,omitempty"`
	SourcePassword      string `json:"sourcePassword,omitempty"`
	DestinationUsername string `json:"destinationUsername,omitempty"`
	DestinationPassword string `json:"destinationPassword,omitempty"`
	// Rule selects the tags a cleanup deletes.
	Rule *CleanupRule `json:"rule,omitempty"`
	// Tag is the tag an import writes its one image under; empty means each image's own
	// tags from the archive.
	Tag string `json:"tag,omitempty"`
	// Archive names an import's uploaded archive in the imports directory; set by Berth.
	Archive string `json:"archive,omitempty"`
	// DryRun makes a cleanup answer what it would delete (200 with a CleanupPlan) instead of
	// starting a job.
	DryRun bool `json:"dryRun,omitempty"`
}

// CleanupRule selects tags of one repository to delete. A tag is deleted when it matches
// Include (if set), does not match Exclude, is not in Keep, is not among the KeepLast newest,
// and (if OlderThan is set) was created longer ago than that.
type CleanupRule struct {
	Repository string `json:"repository"`
	// KeepLast keeps the newest N tags by image creation date; 0 keeps none by count.
	KeepLast int `json:"keepLast,omitempty"`
	// OlderThan is a duration such as 30d or 720h; only older tags are deleted.
	OlderThan string `json:"olderThan,omitempty"`
	// Include and Exclude are regular expressions matched against tag names.
	Include string `json:"include,omitempty"`
	Exclude string `json:"exclude,omitempty"`
	// Keep lists tags never deleted.
	Keep []string `json:"keep,omitempty"`
}

// CleanupPlan is what a cleanup rule deletes.
type CleanupPlan struct {
	Repository string `json:"repository"`
	// Delete lists the tags to delete, oldest first.
	Delete []CleanupItem `json:"delete"`
	// Kept counts the tags the rule keeps.
	Kept int `json:"kept"`
}

// CleanupItem is one tag a cleanup deletes.
type CleanupItem struct {
	Tag     string    `json:"tag"`
	Digest  string    `json:"digest"`
	Created time.Time `json:"created,omitzero"`
	// Manifest is true when every tag of Digest goes, so the manifest itself is deleted
	// (its space is freed by garbage collection); false means only the tag is removed.
	Manifest bool `json:"manifest"`
}

// Job is a write operation and how it stands.
type Job struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Summary says in words what the job does, e.g. "copy library/alpine:3 → mirror/alpine:3".
	Summary string `json:"summary"`
	// User is who started it ("" for Berth's own credentials).
	User    string    `json:"user,omitempty"`
	State   string    `json:"state"`
	Created time.Time `json:"created"`
	Ended   time.Time `json:"ended,omitzero"`
	// Done and Total are bytes copied so far and in all.
	Done   int64      `json:"done,omitempty"`
	Total  int64      `json:"total,omitempty"`
	Error  string     `json:"error,omitempty"`
	Result *JobResult `json:"result,omitempty"`
	// Touches lists what the job reads or writes in Berth's registry: repositories, and
	// references (repo:tag, repo@digest) where it names them; at most MaxTouches.
	Touches []string `json:"touches,omitempty"`
	// MayCancel says whether the caller may cancel it (its owner or an administrator) while
	// it runs.
	MayCancel bool `json:"mayCancel,omitempty"`
}

// MaxTouches bounds Job.Touches.
const MaxTouches = 20

// JobList is the answer of GET /api/v1/jobs, newest first.
type JobList struct {
	Jobs []Job `json:"jobs"`
	// All is true when the list may hold other users' jobs (the caller is an administrator).
	All bool `json:"all,omitempty"`
}

// Job list states (JobQuery.State).
const (
	JobsRunning  = "running"
	JobsFinished = "finished"
)

// JobQuery filters GET /api/v1/jobs (?user=&state=).
type JobQuery struct {
	// User, for an administrator, lists only that user's jobs ("" everyone's); anyone else
	// sees only their own and may name only themselves.
	User string
	// State is JobsRunning, JobsFinished or "" for both.
	State string
}

// Values are q as query parameters.
func (q JobQuery) Values() url.Values {
	v := url.Values{}
	if q.User != "" {
		v.Set("user", q.User)
	}
	if q.State != "" {
		v.Set("state", q.State)
	}
	return v
}

// JobStarted is the answer of POST /api/v1/jobs.
type JobStarted struct {
	ID string `json:"id"`
}

// JobResult is what a finished job did.
type JobResult struct {
	// Digest is the manifest a copy or retag wrote.
	Digest string `json:"digest,omitempty"`
	// Destination is the reference a copy or retag wrote.
	Destination string `json:"destination,omitempty"`
	// Manifests and Blobs count what a copy wrote (blobs the destination had or could
	// mount included); Bytes sums the blobs' sizes.
	Manifests int   `json:"manifests,omitempty"`
	Blobs     int   `json:"blobs,omitempty"`
	Bytes     int64 `json:"bytes,omitempty"`
	// Tags lists the references (repository:tag) an import wrote.
	Tags []string `json:"tags,omitempty"`
	// Deleted lists the references a delete or cleanup removed.
	Deleted []string `json:"deleted,omitempty"`
	// Plan is what a cleanup set out to delete.
	Plan *CleanupPlan `json:"plan,omitempty"`
	// Note says how the job worked around what the registry cannot do (delete a tag alone).
	Note string `json:"note,omitempty"`
}

// JobEvent is one line of GET /api/v1/jobs/{id}/events.
type JobEvent struct {
	// Seq numbers a job's events from 1.
	Seq  int       `json:"seq"`
	Time time.Time `json:"time"`
	// Type is phase, progress, message, result or error.
	Type    string `json:"type"`
	Phase   string `json:"phase,omitempty"`
	Message string `json:"message,omitempty"`
	// Blob, Done and Total report a blob's upload: bytes done of total.
	Blob  string `json:"blob,omitempty"`
	Done  int64  `json:"done,omitempty"`
	Total int64  `json:"total,omitempty"`
	// State is the job's final state, on result and error events.
	State  string     `json:"state,omitempty"`
	Result *JobResult `json:"result,omitempty"`
	Error  string     `json:"error,omitempty"`
	// Refs, on the message a delete or copy writes before it changes anything, records what
	// each reference it works on pointed at then; Ref and Step (StepDeleting, StepDeleted)
	// tie a delete's message to one reference. An attempt resumed after a crash reads them
	// back to know what the one before did.
	Refs []JobRef `json:"refs,omitempty"`
	Ref  string   `json:"ref,omitempty"`
	Step string   `json:"step,omitempty"`
}

// JobRef is what a reference pointed at when a job started.
type JobRef struct {
	Ref string `json:"ref"`
	// Digest is the manifest Ref named; "" when there was none.
	Digest string `json:"digest,omitempty"`
	// Tags, for a digest, are the tags that pointed at it.
	Tags []string `json:"tags,omitempty"`
}

// Steps of a delete's work on one reference.
const (
	StepDeleting = "deleting"
	StepDeleted  = "deleted"
)

// Final reports whether e is a job's last event.
func (e JobEvent) Final() bool { return e.Type == EventResult || e.Type == EventError }

// ErrStreamEnded is returned by ReadJobEvents when a stream ends before the job's final event.
var ErrStreamEnded = errors.New("the stream ended before the job")

// ReadJobEvents decodes a job's NDJSON event stream (GET /api/v1/jobs/{id}/events), calling fn
// with each event, until the final one, which it returns.
func ReadJobEvents(r io.Reader, fn func(JobEvent)) (JobEvent, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var last JobEvent
	for sc.Scan() {
		var e JobEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return last, fmt.Errorf("job event %q: %w", sc.Bytes(), err)
		}
		last = e
		if fn != nil {
			fn(e)
		}
		if e.Final() {
			return e, nil
		}
	}
	if err := sc.Err(); err != nil {
		return last, err
	}
	return last, ErrStreamEnded
}
