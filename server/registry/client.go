package registry

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Options configures a Client.
type Options struct {
	// URL is the registry's base URL, e.g. http://127.0.0.1:5000 or https://ghcr.io.
	URL string
	// Auth is Berth's own (service) credentials for reads; nil means anonymous. Writes never
	// use them (see Client.writeAuth).
	Auth authn.Authenticator
	// PerUser makes a principal in the request context replace Auth: true for the registry
	// Berth fronts, whose users sign in to Berth with their registry credentials; false for
	// other registries (copy sources and destinations), whose credentials are given per job.
	PerUser bool
	// ServiceWrites lets writes without a signed-in user run with Auth (or anonymously when
	// Auth is nil). Off by default: service credentials are for reads.
	ServiceWrites bool
	// Transport carries every request; nil means NewTransport(Timeout, nil).
	Transport http.RoundTripper
	// Timeout bounds one registry operation, retries and body included; 0 means 30 s.
	Timeout time.Duration
	// Concurrency bounds the requests in flight at once; 0 means 16.
	Concurrency int
	// UserAgent is sent with every request; "" means "berth".
	UserAgent string
	// Guard, if set, is asked before every manifest put and delete (governance).
	Guard WriteGuard
	// NoCatalog keeps Berth off the registry's _catalog (an endpoint whose catalog is not to
	// be used): catalog reads are refused at once, as a registry refusing them would.
	NoCatalog bool
}

// Client reaches one registry for whoever is asking.
type Client struct {
	addr      Address
	reg       name.Registry
	nameOpts  []name.Option
	auth      authn.Authenticator
	perUser   bool
	svcWrites bool
	transport http.RoundTripper // breaker in front of the transport given
	breaker   *breaker
	timeout   time.Duration
	sem       chan struct{}
	agent     string
	guard     WriteGuard
	noCatalog bool

	mu      sync.Mutex
	pullers map[string]*pullerEntry
	handoff handoff

	// tagDeletes is whether the registry deletes a tag alone, learnt on the first try.
	tagDeletes atomic.Int32
}

type pullerEntry struct {
	puller *remote.Puller
	prober *remote.Puller // n=1: access probes
	used   time.Time
}

// maxPullers is how many principals' pullers (with their tokens) are kept before idle ones
// are dropped.
const maxPullers = 1000

// New returns a Client for the registry in opts.
func New(opts Options) (*Client, error) {
	addr, err := ParseAddress(opts.URL)
	if err != nil {
		return nil, err
	}
	nopts := []name.Option{name.StrictValidation}
	if addr.Insecure() {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(addr.Host, nopts...)
	if err != nil {
		return nil, errors.New("registry URL " + opts.URL + ": " + err.Error())
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.Transport == nil {
		opts.Transport = NewTransport(opts.Timeout, nil)
	}
	if opts.Auth == nil {
		opts.Auth = authn.Anonymous
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "berth"
	}
	brk := newBreaker(opts.Transport, addr, opts.Timeout)
	return &Client{
		addr: addr, reg: reg, nameOpts: nopts, auth: opts.Auth, perUser: opts.PerUser,
		svcWrites: opts.ServiceWrites, transport: brk, breaker: brk, timeout: opts.Timeout,
		sem: make(chan struct{}, opts.Concurrency), agent: opts.UserAgent, guard: opts.Guard, noCatalog: opts.NoCatalog,
		pullers: map[string]*pullerEntry{},
	}, nil
}

// Address is the registry's base URL.
func (c *Client) Address() Address { return c.addr }

// Transport is the round tripper every request to this registry goes through (the /v2 proxy
// shares it), its circuit breaker included.
func (c *Client) Transport() http.RoundTripper { return c.transport }

// Timeout is the bound on one registry operation.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Concurrency is how many requests the client has in flight at most.
func (c *Client) Concurrency() int { return cap(c.sem) }

// Same reports whether o reaches the same registry as c.
func (c *Client) Same(o *Client) bool { return c.addr == o.addr }

// Repository returns the validated repository name in this registry.
func (c *Client) Repository(repository string) (name.Repository, error) {
	if err := ValidateRepository(repository); err != nil {
		return name.Repository{}, err
	}
	repo, err := name.NewRepository(c.addr.Host+"/"+repository, c.nameOpts...)
	if err != nil || repo.RepositoryStr() != repository {
		return name.Repository{}, ValidateRepository("\x00" + repository)
	}
	return repo, nil
}

// Reference returns the validated reference (a tag or a digest) to repository.
func (c *Client) Reference(repository, ref string) (name.Reference, error) {
	repo, err := c.Repository(repository)
	if err != nil {
		return nil, err
	}
	if err := ValidateReference(ref); err != nil {
		return nil, err
	}
	if IsDigest(ref) {
		return repo.Digest(ref), nil
	}
	return repo.Tag(ref), nil
}

// principal is who the request in ctx is made for here.
func (c *Client) principal(ctx context.Context) principal {
	if c.perUser {
		if p, ok := credentialsIn(ctx); ok {
			return p
		}
	}
	return principal{Auth: c.auth}
}

// ErrNotAllowed is returned for a write without a signed-in user when service writes are off.
var ErrNotAllowed = errors.New("sign in to make changes: Berth does not write with its own registry credentials")

// writeAuth is the credentials a write in ctx runs with: the signed-in user's, or — only
// where the operator allowed it — Berth's own. Never more than the person asking has.
func (c *Client) writeAuth(ctx context.Context) (authn.Authenticator, error) {
	if c.perUser {
		if p, ok := credentialsIn(ctx); ok {
			return p.Auth, nil
		}
		if !c.svcWrites {
			return nil, ErrNotAllowed
		}
	}
	return c.auth, nil
}

// CanWrite reports whether a write in ctx would be attempted at all (a user is signed in, or
// service writes are allowed); the registry still decides whether it succeeds.
func (c *Client) CanWrite(ctx context.Context) bool {
	_, err := c.writeAuth(ctx)
	return err == nil
}

// puller returns the principal's puller, which keeps its registry tokens between requests.
func (c *Client) puller(ctx context.Context) (*remote.Puller, error) {
	e, err := c.pullerEntry(ctx)
	if err != nil {
		return nil, err
	}
	return e.puller, nil
}

// prober returns the principal's puller whose tag lists ask for one tag a page: an access
// probe (authorizer.go) then costs the registry one tag, not the list.
func (c *Client) prober(ctx context.Context) (*remote.Puller, error) {
	e, err := c.pullerEntry(ctx)
	if err != nil {
		return nil, err
	}
	return e.prober, nil
}

func (c *Client) pullerEntry(ctx context.Context) (*pullerEntry, error) {
	p := c.principal(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.pullers[p.Key]; ok {
		e.used = time.Now()
		return e, nil
	}
	if len(c.pullers) >= maxPullers {
		// Sessions end on other replicas, or just go idle: drop pullers unused for an hour,
		// or, if none is, start over.
		for k, e := range c.pullers {
			if k != "" && time.Since(e.used) > time.Hour {
				delete(c.pullers, k)
			}
		}
		if len(c.pullers) >= maxPullers {
			clear(c.pullers)
		}
	}
	// Tag lists without a page size: distribution (2.8 and 3) then answers every tag at once,
	// where go-containerregistry's default n=1000 made a 10,000-tag list ten requests, each
	// of which a filesystem-backed registry answers by listing the whole tag directory.
	// Registries that page anyway say so with a Link header, which is followed.
	pl, err := remote.NewPuller(append(c.options(p.Auth), remote.WithPageSize(0))...)
	if err != nil {
		return nil, err
	}
	probe, err := remote.NewPuller(append(c.options(p.Auth), remote.WithPageSize(1))...)
	if err != nil {
		return nil, err
	}
	e := &pullerEntry{puller: pl, prober: probe, used: time.Now()}
	c.pullers[p.Key] = e
	return e, nil
}

// Forget drops a principal's tokens, e.g. when its session ends.
func (c *Client) Forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pullers, key)
}

// retry is one quick retry of a failed idempotent request, well inside the operation's
// deadline (go-containerregistry's default waits 1 s and 3 s).
var retry = remote.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 2}

func (c *Client) options(auth authn.Authenticator) []remote.Option {
	return []remote.Option{
		remote.WithAuth(auth), remote.WithTransport(c.transport), remote.WithUserAgent(c.agent),
		remote.WithRetryBackoff(retry),
	}
}

// begin bounds one operation: it takes a concurrency slot and sets the deadline that covers
// the operation's retries and body.
func (c *Client) begin(ctx context.Context) (context.Context, func(), error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	return ctx, func() { cancel(); <-c.sem }, nil
}

// Keychain returns the credentials the Docker config (docker login) holds for the registry at
// url, as docker, crane and skopeo would use them; anonymous when it holds none.
func Keychain(url string) (authn.Authenticator, error) {
	addr, err := ParseAddress(url)
	if err != nil {
		return nil, err
	}
	reg, err := name.NewRegistry(addr.Host)
	if err != nil {
		return nil, err
	}
	return authn.DefaultKeychain.Resolve(reg)
}
