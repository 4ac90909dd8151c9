package main

import (
	"context"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/governance"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/replication"
	"github.com/berth-registry/berth/server/store"
)

// newReplication builds the registry endpoints and replication rules. Rules write to the
// main registry with Berth's own access (its service credentials, or with access control
// tokens it mints for itself), never a user's; administrators alone manage them.
func newReplication(cfg config.Config, upstream string, st store.Store, svcAuth authn.Authenticator, control *auth.Control,
	gov *governance.Service, secret []byte, metrics prometheus.Registerer, relay *hookRelay) (*replication.Service, error) {
	var limit replication.Limiter
	if cfg.ReplicationBandwidth > 0 {
		limit = replication.NewLimiter(cfg.ReplicationBandwidth)
	}
	t := replication.Limit(registry.NewTransport(cfg.UpstreamTimeout, nil), limit)
	if control != nil {
		t = auth.NewServiceTransport(control.Issuer, t)
		svcAuth = nil
	}
	main, err := registry.New(registry.Options{
		URL: upstream, Auth: svcAuth, ServiceWrites: true, Transport: t,
		Timeout: cfg.UpstreamTimeout, Concurrency: cfg.Concurrency,
		Guard: writeGuard(gov), // immutable tags and quotas hold for replication into main too
	})
	if err != nil {
		return nil, err
	}
	return replication.New(replication.Options{
		Store: st, Main: main, Secret: secret, Flags: cfg.ExtraRegistries, Timeout: cfg.UpstreamTimeout,
		Bandwidth: cfg.ReplicationBandwidth, Limiter: limit, Metrics: replication.NewMetrics(metrics),
		OnRun: relay.replicationFinished,
	})
}

// replicationSchedule is the periodic task queuing scheduled replication runs.
func replicationSchedule(repl *replication.Service) ops.Periodic {
	return ops.Periodic{Name: replication.ScheduleName, Interval: replication.ScheduleEvery, Run: func(ctx context.Context) error {
		return repl.Schedule(ctx, time.Now(), replication.ScheduleEvery)
	}}
}

// allowEndpoint reports whether addr is a registry endpoint's, for copies.
func allowEndpoint(repl *replication.Service) func(addr string) bool {
	return func(addr string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return repl.Allowed(ctx, addr)
	}
}
