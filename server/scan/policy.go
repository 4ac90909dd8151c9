package scan

import (
	"context"
	"fmt"
	"log/slog"
)

// Admit is the global pull policy: a manifest whose report has a finding at or above
// severity is refused through Berth's /v2 proxy. Images without a report (not scanned yet,
// or scanned without a database) are let through; "" turns the policy off.
func (s *Service) Admit(severity string) func(ctx context.Context, repository, digest string) string {
	min := Rank(severity)
	if min == 0 {
		return nil
	}
	return func(ctx context.Context, repository, digest string) string {
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
				return fmt.Sprintf("pull refused by Berth's pull policy \"severity below %s\": %s has %d %s finding(s); see its vulnerabilities in Berth", severity, repository, c.n, c.name)
			}
		}
		return ""
	}
}
