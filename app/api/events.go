package api

import "time"

// Event is one registry event as /api/v1/events returns it.
type Event struct {
	ID         string    `json:"id"`
	Timestamp  time.Time `json:"timestamp"`
	Action     string    `json:"action"`
	Repository string    `json:"repository"`
	Tag        string    `json:"tag,omitempty"`
	Digest     string    `json:"digest,omitempty"`
	MediaType  string    `json:"mediaType,omitempty"`
	Size       int64     `json:"size,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	// Addr is the client address the registry saw.
	Addr      string `json:"addr,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
	// Source is "webhook" (delivered by the registry) or "sync" (found by reconciliation).
	Source string `json:"source"`
}

// EventPage is a page of events, newest first.
type EventPage struct {
	Events []Event `json:"events"`
	// Next is the Before value for the following (older) page; empty on the last page.
	Next string `json:"next,omitempty"`
}

// EventQuery selects events; zero fields do not filter.
type EventQuery struct {
	Repository string
	Action     string
	Actor      string
	// Since is an RFC 3339 time or a duration back from now such as 24h or 7d.
	Since string
	// Before is the Next of the previous page.
	Before string
	Limit  int
	// All includes blob events; by default only manifest events are listed.
	All bool
}

// DayCount is the pushes and pulls of one time bucket starting at Start.
type DayCount struct {
	Start  time.Time `json:"start"`
	Pushes int       `json:"pushes"`
	Pulls  int       `json:"pulls"`
}

// RepositoryStats is a repository's push and pull history.
type RepositoryStats struct {
	Repository string `json:"repository"`
	Range      string `json:"range"`
	// Bucket is the width of each entry of Counts: "hour" or "day".
	Bucket   string     `json:"bucket"`
	Counts   []DayCount `json:"counts"`
	LastPush time.Time  `json:"lastPush,omitzero"`
	LastPull time.Time  `json:"lastPull,omitzero"`
}

// PullCount is how often a repository was pulled.
type PullCount struct {
	Repository string `json:"repository"`
	Pulls      int    `json:"pulls"`
}

// Stats is the registry-wide push and pull history and the most pulled repositories.
type Stats struct {
	Range     string      `json:"range"`
	Bucket    string      `json:"bucket"`
	Counts    []DayCount  `json:"counts"`
	TopPulled []PullCount `json:"topPulled"`
}
