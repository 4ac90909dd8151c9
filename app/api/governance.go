package api

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// The JSON types of per-namespace governance (/api/v1/namespaces/{ns}/immutable, /quota).

// ImmutableRule protects tags of a namespace: a tag matching one of its patterns and none of
// its "!" patterns may not be overwritten or deleted once pushed, until an administrator
// lifts the rule.
type ImmutableRule struct {
	ID        int64     `json:"id"`
	Namespace string    `json:"namespace"`
	Patterns  []string  `json:"patterns"`
	Lifted    bool      `json:"lifted"`
	CreatedBy string    `json:"createdBy"`
	Created   time.Time `json:"created"`
}

// ImmutableRuleRequest creates a rule (patterns) or lifts and restores one (lifted).
type ImmutableRuleRequest struct {
	Patterns []string `json:"patterns,omitempty"`
	Lifted   *bool    `json:"lifted,omitempty"`
}

// Quota is a namespace's limits with what it uses now.
type Quota struct {
	Namespace string `json:"namespace"`
	// StorageLimit (bytes) and TagLimit are 0 when not limited.
	StorageLimit int64 `json:"storageLimit"`
	TagLimit     int64 `json:"tagLimit"`
	// Used counts each blob and manifest once within the namespace; Tags every tag of it.
	Used         int64 `json:"used"`
	Tags         int64 `json:"tags"`
	Repositories int   `json:"repositories"`
	// Warned is when usage last passed 80 % of a limit.
	Warned *time.Time `json:"warned,omitempty"`
}

// QuotaRequest sets a namespace's limits; 0 removes one. StorageLimit may be a size such
// as "10GB" or "512MiB" or a number of bytes.
type QuotaRequest struct {
	StorageLimit string `json:"storageLimit"`
	TagLimit     int64  `json:"tagLimit"`
}

// MaxPatterns is the most patterns one immutable rule holds.
const MaxPatterns = 32

// CheckPatterns says what is wrong with an immutable rule's patterns: each a glob over tag
// characters (* ? [ ]) with an optional leading "!" excluding what it matches, at least one
// not excluding.
func CheckPatterns(patterns []string) error {
	if len(patterns) == 0 || len(patterns) > MaxPatterns {
		return fmt.Errorf("a rule needs 1 to %d patterns", MaxPatterns)
	}
	positive := false
	for _, p := range patterns {
		glob := strings.TrimPrefix(p, "!")
		if glob == "" || len(glob) > 128 {
			return fmt.Errorf("pattern %q: 1 to 128 characters", p)
		}
		for _, r := range glob {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.-*?[]^", r)) {
				return fmt.Errorf("pattern %q: only tag characters and * ? [ ]", p)
			}
		}
		if _, err := path.Match(glob, ""); err != nil {
			return fmt.Errorf("pattern %q: %v", p, err)
		}
		positive = positive || !strings.HasPrefix(p, "!")
	}
	if !positive {
		return fmt.Errorf("a rule needs a pattern that is not an exclusion (!)")
	}
	return nil
}

// MatchPatterns returns the first pattern without "!" that tag matches, when no "!"
// pattern matches it; ok is false otherwise.
func MatchPatterns(patterns []string, tag string) (pattern string, ok bool) {
	for _, p := range patterns {
		if glob, neg := strings.CutPrefix(p, "!"); neg {
			if m, _ := path.Match(glob, tag); m {
				return "", false
			}
		}
	}
	for _, p := range patterns {
		if !strings.HasPrefix(p, "!") {
			if m, _ := path.Match(p, tag); m {
				return p, true
			}
		}
	}
	return "", false
}

// Webhook is an outbound webhook of a namespace ("" for a global one). Its secret is never
// shown after it is created.
type Webhook struct {
	ID        string    `json:"id"`
	Namespace string    `json:"namespace"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Format    string    `json:"format"`
	CreatedBy string    `json:"createdBy"`
	Created   time.Time `json:"created"`
}

// WebhookRequest creates a webhook: events among push, delete, pull, scan.finished,
// quota.warning, replication.finished, job.failed; format json, cloudevents or slack; secret
// the HMAC key (empty: Berth makes one and answers it once).
type WebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Format string   `json:"format"`
	Secret string   `json:"secret,omitempty"`
}

// WebhookCreated is a new webhook with its secret, shown this once.
type WebhookCreated struct {
	Webhook
	Secret string `json:"secret"`
}

// Delivery is one attempt to deliver an event to a webhook.
type Delivery struct {
	ID        int64     `json:"id"`
	Event     string    `json:"event"`
	EventType string    `json:"eventType"`
	Attempt   int       `json:"attempt"`
	Status    int       `json:"status"`
	Error     string    `json:"error,omitempty"`
	Millis    int64     `json:"millis"`
	Time      time.Time `json:"time"`
}

// RetentionPolicy runs a cleanup rule over the repositories of a namespace matching a glob
// (team/*), every Every; the rule's repository is ignored.
type RetentionPolicy struct {
	ID           string      `json:"id"`
	Namespace    string      `json:"namespace"`
	Repositories string      `json:"repositories"`
	Rule         CleanupRule `json:"rule"`
	Every        string      `json:"every"`
	NextRun      time.Time   `json:"nextRun"`
	CreatedBy    string      `json:"createdBy"`
	Created      time.Time   `json:"created"`
}

// RetentionRun is what one scheduled run deleted (repository:tag) and freed (bytes the
// namespace no longer reaches, for the registry's garbage collection).
type RetentionRun struct {
	ID      int64     `json:"id"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	Deleted []string  `json:"deleted"`
	Freed   int64     `json:"freed"`
	Error   string    `json:"error,omitempty"`
}
