package scan

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/berth-registry/berth/server/store"
)

// Policy is a pull policy ready to be checked: no finding at or above Severity (""
// ignores findings), and, with Signed, a cosign signature (by one of Keys when given).
type Policy struct {
	Severity string
	Signed   bool
	Keys     []signature.Verifier
}

// Off says the policy refuses nothing.
func (p Policy) Off() bool { return Rank(p.Severity) == 0 && !p.Signed }

// Policies are the pull policies in force: a namespace's own (Lookup, by repository) where
// it has one, Global otherwise.
type Policies struct {
	Global Policy
	Lookup func(ctx context.Context, repository string) (p store.PullPolicy, ok bool, err error)
}

// Admit checks pulled manifests against policies: "" lets one through, anything else is the
// refusal's message naming the policy. Images without a report (not scanned yet, or
// scanned without a database) pass a severity policy. nil when no policy can refuse.
func (s *Service) Admit(policies Policies) func(ctx context.Context, repository, digest string) string {
	if policies.Global.Off() && policies.Lookup == nil {
		return nil
	}
	keys := &keyCache{m: map[string][]signature.Verifier{}}
	return func(ctx context.Context, repository, digest string) string {
		p, of := policies.Global, "global"
		if policies.Lookup != nil {
			switch np, ok, err := policies.Lookup(ctx, repository); {
			case err != nil:
				// The store is down: the global policy stands in for the namespace's.
				slog.WarnContext(ctx, "namespace pull policy not read", "repository", repository, "err", err)
			case ok:
				p, of = Policy{Severity: np.Severity, Signed: np.Signed, Keys: keys.parse(np.Keys)}, "of namespace "+np.Namespace
			}
		}
		if msg := s.severityRefusal(ctx, p, repository, digest); msg != "" {
			return fmt.Sprintf("pull refused by Berth's pull policy \"severity below %s\" (%s): %s", p.Severity, of, msg)
		}
		if msg := s.signatureRefusal(ctx, p, repository, digest); msg != "" {
			return fmt.Sprintf("pull refused by Berth's pull policy \"signature required\" (%s): %s", of, msg)
		}
		return ""
	}
}

// severityRefusal says why digest's report breaks p's severity threshold ("" if it does not).
func (s *Service) severityRefusal(ctx context.Context, p Policy, repository, digest string) string {
	min := Rank(p.Severity)
	if min == 0 {
		return ""
	}
	r, ok, err := s.opts.Store.ScanReport(ctx, digest)
	if err != nil {
		// The store is down: the pull goes on, as a registry without Berth would serve it.
		slog.WarnContext(ctx, "pull policy not checked", "repository", repository, "err", err)
		return ""
	}
	sev := Severities(r)
	if !ok || sev.Reports == 0 {
		return ""
	}
	counts := []struct {
		name string
		n    int
	}{{Critical, sev.Critical}, {High, sev.High}, {Medium, sev.Medium}, {Low, sev.Low}}
	for _, c := range counts {
		if c.n > 0 && Rank(c.name) >= min {
			return fmt.Sprintf("%s has %d %s finding(s); see its vulnerabilities in Berth", repository, c.n, c.name)
		}
	}
	return ""
}

// signatureRefusal says why digest fails p's signature requirement ("" if it does not).
// A signature that cannot be checked (the registry is down) refuses the pull.
func (s *Service) signatureRefusal(ctx context.Context, p Policy, repository, digest string) string {
	if !p.Signed {
		return ""
	}
	ok, err := s.Signed(ctx, repository, digest, p.Keys)
	switch {
	case err != nil:
		slog.WarnContext(ctx, "signature not checked", "repository", repository, "digest", digest, "err", err)
		return fmt.Sprintf("the signature of %s@%s could not be checked; try again shortly", repository, digest)
	case ok:
		return ""
	case len(p.Keys) > 0:
		return fmt.Sprintf("%s@%s has no cosign signature by the policy's keys", repository, digest)
	}
	return fmt.Sprintf("%s@%s has no cosign signature", repository, digest)
}

// keyCache keeps the verifiers of the namespaces' keys, parsed once per distinct text.
type keyCache struct {
	mu sync.Mutex
	m  map[string][]signature.Verifier
}

// parse returns pemText's verifiers; keys stored were checked when set, so one failing now
// yields a policy no signature meets rather than one any signature meets.
func (c *keyCache) parse(pemText string) []signature.Verifier {
	if pemText == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[pemText]; ok {
		return v
	}
	v, err := ParseKeys(pemText)
	if err != nil || len(v) == 0 {
		v = []signature.Verifier{refuseAll{}}
	}
	if len(c.m) > 1000 {
		clear(c.m)
	}
	c.m[pemText] = v
	return v
}
