package events

import (
	// Linked so go-digest knows sha256, sha384 and sha512 as available algorithms.
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// wireEvent is an event as distribution sends it.
type wireEvent struct {
	ID        string    `json:"id"`
	Timestamp time.Time `json:"timestamp"`
	Action    string    `json:"action"`
	Target    struct {
		MediaType  string `json:"mediaType"`
		Digest     string `json:"digest"`
		Size       int64  `json:"size"`
		Length     int64  `json:"length"`
		Repository string `json:"repository"`
		URL        string `json:"url"`
		Tag        string `json:"tag"`
		References []struct {
			Digest string `json:"digest"`
		} `json:"references"`
	} `json:"target"`
	Request struct {
		ID        string `json:"id"`
		Addr      string `json:"addr"`
		Host      string `json:"host"`
		Method    string `json:"method"`
		UserAgent string `json:"useragent"`
	} `json:"request"`
	Actor struct {
		Name string `json:"name"`
	} `json:"actor"`
	Source struct {
		Addr       string `json:"addr"`
		InstanceID string `json:"instanceID"`
	} `json:"source"`
}

// Bounds on an event's fields. Distribution's own values are far below them (ids are UUIDs,
// addresses host:port); they keep one event's row small and every indexed value well inside
// the databases' index entry limits (PostgreSQL refuses entries over ≈2.7 KB).
const (
	maxIDLength        = 256  // event id, request id, source instance id
	maxActorLength     = 256  // a user name, an email address, a token subject
	maxUserAgentLength = 1024 // docker's user agents, the longest usual ones, are ≈250 bytes
	maxMediaTypeLength = 255  // RFC 6838: 127 bytes each for type and subtype
	maxURLLength       = 2048
	maxAddrLength      = 255 // host:port or a host name
	maxDigestLength    = 255
	maxReferences      = 10_000
	// maxClockSkew is how far in the future an event's timestamp may lie: a registry's clock
	// a little ahead is tolerated, a date that would block every later change of the tag
	// (tag state is ordered by time) is not.
	maxClockSkew = 24 * time.Hour
)

// earliest is the oldest timestamp an event may carry: before any registry API existed, and
// well inside the range the store's nanosecond timestamps hold (1678–2262).
var earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// methodGrammar is an HTTP method as distribution reports it.
var methodGrammar = regexp.MustCompile(`^[A-Z]{1,16}$`)

// DecodeEnvelope parses a notification envelope into store events with source "webhook".
// Every event must be one distribution could have sent: an id, a known action (push, pull,
// mount, delete), a valid repository name, tag and digests, no NUL bytes, every field within
// its bound and a plausible timestamp; otherwise the whole envelope is refused, and nothing
// in it stored.
func DecodeEnvelope(body []byte) ([]store.Event, error) {
	return decodeEnvelope(body, time.Now())
}

func decodeEnvelope(body []byte, now time.Time) ([]store.Event, error) {
	var env struct {
		Events []wireEvent `json:"events"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("the body is not a notification envelope: %w", err)
	}
	out := make([]store.Event, 0, len(env.Events))
	for i, we := range env.Events {
		if err := we.validate(now); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		ts := we.Timestamp
		if ts.IsZero() {
			ts = now
		}
		e := store.Event{
			ID: we.ID, Timestamp: ts.UTC(), Action: we.Action,
			Repository: we.Target.Repository, Tag: we.Target.Tag, Digest: we.Target.Digest,
			MediaType: we.Target.MediaType, Size: we.Target.Size, Length: we.Target.Length, URL: we.Target.URL,
			Actor: we.Actor.Name, RequestID: we.Request.ID, RequestAddr: we.Request.Addr, RequestHost: we.Request.Host,
			RequestMethod: we.Request.Method, UserAgent: we.Request.UserAgent,
			SourceAddr: we.Source.Addr, SourceInstance: we.Source.InstanceID, Source: store.SourceWebhook,
		}
		for _, ref := range we.Target.References {
			e.References = append(e.References, ref.Digest)
		}
		out = append(out, e)
	}
	return out, nil
}

// validate checks one event; the error says which field is wrong without echoing much of it.
func (we *wireEvent) validate(now time.Time) error {
	if we.ID == "" || we.Action == "" {
		return errors.New("no id or action")
	}
	if !knownAction(we.Action) {
		return fmt.Errorf("unknown action %q: want push, pull, mount or delete", clip(we.Action))
	}
	fields := []struct {
		name, value string
		max         int
	}{
		{"id", we.ID, maxIDLength},
		{"target.mediaType", we.Target.MediaType, maxMediaTypeLength},
		{"target.url", we.Target.URL, maxURLLength},
		{"request.id", we.Request.ID, maxIDLength},
		{"request.addr", we.Request.Addr, maxAddrLength},
		{"request.host", we.Request.Host, maxAddrLength},
		{"request.useragent", we.Request.UserAgent, maxUserAgentLength},
		{"actor.name", we.Actor.Name, maxActorLength},
		{"source.addr", we.Source.Addr, maxAddrLength},
		{"source.instanceID", we.Source.InstanceID, maxIDLength},
		// Checked again below by grammar; here so the NUL and length messages are uniform.
		{"target.repository", we.Target.Repository, registry.MaxNameLength},
		{"target.tag", we.Target.Tag, maxDigestLength},
		{"target.digest", we.Target.Digest, maxDigestLength},
		{"request.method", we.Request.Method, maxIDLength},
	}
	for _, f := range fields {
		if strings.IndexByte(f.value, 0) >= 0 {
			return fmt.Errorf("%s holds a NUL byte", f.name)
		}
		if len(f.value) > f.max {
			return fmt.Errorf("%s is %d bytes long, at most %d are accepted", f.name, len(f.value), f.max)
		}
	}
	if we.Target.Repository == "" {
		return errors.New("target.repository is missing")
	}
	if registry.ValidateRepository(we.Target.Repository) != nil {
		return fmt.Errorf("target.repository %q is not a repository name", clip(we.Target.Repository))
	}
	if we.Target.Tag != "" && registry.ValidateTag(we.Target.Tag) != nil {
		return fmt.Errorf("target.tag %q is not a tag", clip(we.Target.Tag))
	}
	if we.Target.Digest != "" && !validDigest(we.Target.Digest) {
		return fmt.Errorf("target.digest %q is not a digest", clip(we.Target.Digest))
	}
	if len(we.Target.References) > maxReferences {
		return fmt.Errorf("target.references has %d entries, at most %d are accepted", len(we.Target.References), maxReferences)
	}
	for j, ref := range we.Target.References {
		if !validDigest(ref.Digest) {
			return fmt.Errorf("target.references[%d] %q is not a digest", j, clip(ref.Digest))
		}
	}
	if we.Request.Method != "" && !methodGrammar.MatchString(we.Request.Method) {
		return fmt.Errorf("request.method %q is not an HTTP method", clip(we.Request.Method))
	}
	if we.Target.Size < 0 || we.Target.Length < 0 {
		return errors.New("target.size and target.length must not be negative")
	}
	if ts := we.Timestamp; !ts.IsZero() && (ts.Before(earliest) || ts.After(now.Add(maxClockSkew))) {
		return fmt.Errorf("timestamp %s is before 2000 or more than %s ahead of this server's clock", ts.Format(time.RFC3339), maxClockSkew)
	}
	return nil
}

// validDigest reports whether s is a digest of a known algorithm with that algorithm's length
// and alphabet (sha256: 64 lowercase hex): the OCI grammar alone takes "sha256:zz" and "md5:abc".
func validDigest(s string) bool {
	return digest.Digest(s).Validate() == nil
}

// clip keeps a quoted value short and printable in an error message.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", `\0`), "�")
}
