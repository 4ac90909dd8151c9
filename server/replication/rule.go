package replication

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/bmatcuk/doublestar/v4"
	"github.com/robfig/cron/v3"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// cronParser reads a rule's schedule: five fields or a descriptor (@hourly, @every 1h).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cosignTag is the tag cosign gives a signature, attestation or SBOM of sha256:<hex>.
var cosignTag = regexp.MustCompile(`^sha256-([0-9a-f]{64})\.(sig|att|sbom)$`)

// filter is a rule's checked filters.
type filter struct {
	rule   api.ReplicationRule
	regex  *regexp.Regexp
	semver *semver.Constraints
	cron   cron.Schedule
	labels []label
}

func bad(format string, a ...any) error {
	return httperr.New(api.CodeBadRequest, fmt.Sprintf(format, a...))
}

// compile checks r and returns its filters.
func compile(r api.ReplicationRule) (*filter, error) {
	f := &filter{rule: r}
	if strings.TrimSpace(r.Name) == "" || len(r.Name) > 100 {
		return nil, bad("A rule needs a name of at most 100 characters.")
	}
	if r.Source == "" || r.Destination == "" {
		return nil, bad("A rule needs a source and a destination endpoint.")
	}
	if r.Source == r.Destination && r.Prefix == "" {
		return nil, bad("A rule within one registry needs a destination prefix.")
	}
	if r.Repositories != "" && !doublestar.ValidatePattern(r.Repositories) {
		return nil, bad("%q is not a repository pattern (globs such as team/** or app-*).", clip(r.Repositories))
	}
	if r.Tags != "" && !doublestar.ValidatePattern(r.Tags) {
		return nil, bad("%q is not a tag pattern (globs such as v* or release-?).", clip(r.Tags))
	}
	var err error
	if r.TagRegex != "" {
		if f.regex, err = regexp.Compile(`^(?:` + r.TagRegex + `)$`); err != nil {
			return nil, bad("%q is not a regular expression.", clip(r.TagRegex))
		}
	}
	if r.SemVer != "" {
		if f.semver, err = semver.NewConstraint(r.SemVer); err != nil {
			return nil, bad("%q is not a version range (such as ^1.2 or >=2, <3).", clip(r.SemVer))
		}
	}
	if f.labels, err = parseLabels(r.Labels); err != nil {
		return nil, err
	}
	if p := strings.TrimSuffix(r.Prefix, "/"); p != "" {
		if err := registry.ValidateRepository(p); err != nil {
			return nil, bad("The prefix %q is not a repository name.", clip(r.Prefix))
		}
	}
	switch r.Trigger {
	case api.TriggerManual, api.TriggerPush:
		if r.Trigger == api.TriggerPush && r.Source != api.MainRegistry {
			return nil, bad("Push triggers come from the main registry's notifications: the source must be %q.", api.MainRegistry)
		}
	case api.TriggerSchedule:
		if f.cron, err = cronParser.Parse(r.Schedule); err != nil {
			return nil, bad("%q is not a schedule (cron such as \"0 3 * * *\", or @hourly).", clip(r.Schedule))
		}
	default:
		return nil, bad("The trigger must be manual, push or schedule.")
	}
	return f, nil
}

// repository reports whether the rule takes the repository name.
func (f *filter) repository(name string) bool {
	if f.own(name) {
		return false
	}
	if f.rule.Repositories == "" {
		return true
	}
	ok, _ := doublestar.Match(f.rule.Repositories, name)
	return ok
}

// tag reports whether the rule takes the tag. Cosign's tags follow their subject instead.
func (f *filter) tag(t string) bool {
	if f.rule.Tags != "" {
		if ok, _ := doublestar.Match(f.rule.Tags, t); !ok {
			return false
		}
	}
	if f.regex != nil && !f.regex.MatchString(t) {
		return false
	}
	if f.semver != nil {
		v, err := semver.NewVersion(t)
		if err != nil || !f.semver.Check(v) {
			return false
		}
	}
	return true
}

// destination is where repository goes.
func (f *filter) destination(repository string) string {
	p := f.rule.Prefix
	if p == "" {
		return repository
	}
	return strings.TrimSuffix(p, "/") + "/" + repository
}

// own reports whether repository is one the rule itself writes, within one registry: a rule
// from a registry to itself never copies its copies again (mirror/mirror/…).
func (f *filter) own(repository string) bool {
	p := strings.TrimSuffix(f.rule.Prefix, "/")
	return f.rule.Source == f.rule.Destination && p != "" && strings.HasPrefix(repository, p+"/")
}

// literal is the one repository a pattern names when it has no wildcard ("" otherwise):
// what a rule reads from a registry that refuses _catalog.
func (f *filter) literal() string {
	p := f.rule.Repositories
	if p == "" || strings.ContainsAny(p, `*?[{\`) {
		return ""
	}
	return p
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Rules lists the rules by name.
func (s *Service) Rules(ctx context.Context) ([]api.ReplicationRule, error) {
	rows, err := s.st.Rules(ctx)
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]api.ReplicationRule, 0, len(rows))
	for _, row := range rows {
		var r api.ReplicationRule
		if json.Unmarshal(row.Data, &r) != nil {
			continue
		}
		r.ID, r.Name, r.Created = row.ID, row.Name, row.Created.UTC()
		out = append(out, r)
	}
	return out, nil
}

// Rule returns the rule named by id or name, or a 404.
func (s *Service) Rule(ctx context.Context, key string) (api.ReplicationRule, error) {
	all, err := s.Rules(ctx)
	if err != nil {
		return api.ReplicationRule{}, err
	}
	for _, r := range all {
		if r.ID == key || r.Name == key {
			return r, nil
		}
	}
	return api.ReplicationRule{}, httperr.New(api.CodeNotFound, fmt.Sprintf("No replication rule is named %q.", clip(key)))
}

// SaveRule checks r, that its endpoints exist, and stores it (a new one without ID).
func (s *Service) SaveRule(ctx context.Context, r api.ReplicationRule) (api.ReplicationRule, error) {
	if _, err := compile(r); err != nil {
		return r, err
	}
	for _, name := range []string{r.Source, r.Destination} {
		if _, err := s.endpoint(ctx, name); err != nil {
			return r, err
		}
	}
	if r.ID == "" {
		r.ID = newID()
	} else if _, err := s.Rule(ctx, r.ID); err != nil {
		return r, err
	}
	r.Created = time.Time{}
	data, _ := json.Marshal(r)
	err := s.st.PutRule(ctx, store.ReplicationRule{ID: r.ID, Name: r.Name, Data: data})
	if errors.Is(err, store.ErrExists) {
		return r, httperr.New(api.CodeConflict, fmt.Sprintf("Another rule is named %q.", clip(r.Name)))
	}
	if err != nil {
		return r, storeError(err)
	}
	s.audit(ctx, "replication.save", r.Name, fmt.Sprintf("%s → %s", r.Source, r.Destination))
	return s.Rule(ctx, r.ID)
}

// DeleteRule removes a rule and its history.
func (s *Service) DeleteRule(ctx context.Context, key string) error {
	r, err := s.Rule(ctx, key)
	if err != nil {
		return err
	}
	if err := s.st.DeleteRule(ctx, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return storeError(err)
	}
	s.audit(ctx, "replication.delete", r.Name, "")
	return nil
}
