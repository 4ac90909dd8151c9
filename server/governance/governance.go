// Package governance keeps per-namespace policies (--access-control): immutable tags and
// storage quotas. Its Guard is asked before every manifest put and delete Berth sees — by
// Berth's own writers (jobs) through registry.Options.Guard, and by the /v2 middleware in
// front of the proxy or the embedded registry — and its API manages the policies.
package governance

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// Audit log actions of governance.
const (
	AuditImmutableCreate = "immutable.create"
	AuditImmutableLift   = "immutable.lift"
	AuditImmutableArm    = "immutable.restore"
	AuditImmutableDelete = "immutable.delete"
	AuditQuotaSet        = "quota.set"
	AuditQuotaWarning    = "quota.warning"
	AuditGuardRefused    = "governance.refused"
)

// Options configures a Service.
type Options struct {
	Store    store.Governance
	Accounts store.Accounts
	// Audit records every change and refusal.
	Audit func(ctx context.Context, e store.AuditEntry)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Grants says whether a request's Authorization header grants action (push, delete) on
	// a repository: the token service's verdict (auth.Issuer.Grants). Middleware needs it.
	Grants func(ctx context.Context, authorization, repository, action string) bool
	// Pulls keeps the namespaces' pull policies; GlobalPull is the default of namespaces
	// without one (--pull-policy-*), shown by the API.
	Pulls      store.PullPolicies
	GlobalPull store.PullPolicy
}

// Event is something governance reports to outbound webhooks.
type Event struct {
	Type       string
	Namespace  string
	Repository string
	Message    string
	Data       map[string]any
}

// Service is governance assembled.
type Service struct {
	o      Options
	usages usageCache // usagecache.go
	conn   atomic.Pointer[connection]
	pulls  atomic.Pointer[pullCheck] // pullguard.go
	notify func(ctx context.Context, e Event)
}

// connection is what Connect gives the service once the registry and the authorizer exist.
type connection struct {
	reg   *registry.Client
	authz access.Authorizer
}

// New returns the service; Connect gives it its view of the registry.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Audit == nil {
		o.Audit = func(context.Context, store.AuditEntry) {}
	}
	return &Service{o: o}
}

// OnEvent makes notify hear governance events (quota warnings) for outbound webhooks; it is
// set while wiring, before any request.
func (s *Service) OnEvent(notify func(ctx context.Context, e Event)) { s.notify = notify }

// Connect sets the client the guard reads the registry with, as Berth itself (what a tag
// points at now, what a namespace stores), and the one authorizer, which decides who
// manages a namespace's policies (Manage on it). Until then, writes to namespaces with a
// policy answer 503.
func (s *Service) Connect(own *registry.Client, authz access.Authorizer) {
	s.conn.Store(&connection{reg: own, authz: authz})
}

func (s *Service) connection() (*connection, error) {
	c := s.conn.Load()
	if c == nil {
		return nil, httperr.New(api.CodeRegistryUnavailable, "Berth is still starting: namespace policies cannot be checked yet; try again shortly.")
	}
	return c, nil
}

func (s *Service) registry() (*registry.Client, error) {
	c, err := s.connection()
	if err != nil {
		return nil, err
	}
	return c.reg, nil
}

// storeErr is the answer for a failed read of the policies: a clear 503.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*httperr.Error); ok {
		return err
	}
	return httperr.Wrap(api.CodeStoreUnavailable, "The policy store failed; try again.", err)
}

var timeZero time.Time
