// Package config turns command-line flags and BERTH_* environment variables into one Config.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/app/api"
)

// Config is everything the berth server needs to start. Every field has a default that runs
// the embedded registry with demo content on the local machine.
type Config struct {
	// Addr is the address the UI, API and proxy listen on.
	Addr string
	// Registry is the base URL of an external registry; empty means the embedded one.
	Registry string
	// DataDir holds the embedded registry's storage and, later, the local database.
	DataDir string
	// EmbeddedAddr is where the embedded registry also listens, for crane, skopeo and docker.
	EmbeddedAddr string
	// NoDemo skips seeding demo content into an empty embedded registry.
	NoDemo bool
	// CORSOrigins are the browser origins allowed to call /v2 and /api cross-origin.
	CORSOrigins []string
	// UpstreamTimeout bounds connecting to the registry and waiting for its response headers.
	UpstreamTimeout time.Duration
	// WebDir, when set, is a directory whose app.wasm, CSS and icons are served instead of
	// the ones embedded in the binary (development).
	WebDir string
	// ReadOnly refuses every write through the proxy and the API.
	ReadOnly bool
	// ClientRendered serves pages without their data, which the browser then fetches (the
	// baseline the UI benchmarks compare against).
	ClientRendered bool
	// Concurrency bounds the requests made to the registry at once for one API call.
	Concurrency int
	// PublicHost is the registry host users pull from, shown in pull commands.
	PublicHost string
	// RegistryUsername and RegistryPasswordFile are service credentials Berth uses to read
	// the registry; without them, users sign in with their own.
	RegistryUsername     string
	RegistryPasswordFile string
	// SessionTTL is how long a signed-in user stays signed in without using Berth.
	SessionTTL time.Duration
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// LogFormat is text or json.
	LogFormat string
	// Database is the event store DSN: postgres://… or a SQLite path; empty means
	// DataDir/berth.db.
	Database string
	// EventsPath is where the registry notification webhook listens.
	EventsPath string
	// EventsSecretFile holds the bearer token the registry must send; empty accepts any sender.
	EventsSecretFile string
	// EventsRetention is how long events are kept.
	EventsRetention time.Duration
	// SyncInterval is how often the registry is walked to record changes the webhook missed;
	// 0 disables the sync.
	SyncInterval time.Duration
	// Cache is where manifests and configs are cached: empty means in the process only; a
	// redis:// or rediss:// URL adds a Redis shared by replicas behind the in-process cache.
	Cache string
	// CacheSize bounds the in-process cache, in bytes.
	CacheSize int64
	// AnonymousWrites lets writes (jobs, /v2 pushes and deletes) run without a signed-in
	// user, with Berth's own registry access. Off unless set, except for the embedded demo
	// registry, which is open anyway.
	AnonymousWrites bool
	// RemoteRegistries are the other registries copies may read from or write to (base
	// URLs); empty allows none.
	RemoteRegistries []string
	// ExtraRegistries are registry endpoints by name (name=URL) besides those the API adds;
	// copies and replication rules may reach them.
	ExtraRegistries []string
	// ReplicationBandwidth bounds the bytes per second replication reads on one replica; 0:
	// no bound.
	ReplicationBandwidth int64
	// WebhookHosts are the hosts (host or host:port) outbound webhooks may target, internal
	// addresses included; "*" also allows any public host. Empty allows none.
	WebhookHosts []string
	// WebhookRetryWait is the wait before a failed webhook delivery's first retry, doubling
	// after each.
	WebhookRetryWait time.Duration
	// Repositories and RepositoriesFile name repositories to list where the registry
	// refuses its catalog (see KnownRepositories).
	Repositories     []string
	RepositoriesFile string
	// EventsInsecure accepts registry notifications without a secret (only with
	// --events-insecure; otherwise an external registry needs --events-secret-file).
	EventsInsecure bool
	// PublicURL is the URL users open Berth at; its host is accepted in Host headers.
	PublicURL string
	// AllowedHosts are further Host header values accepted (besides loopback names and
	// PublicURL's host); "*" accepts any (not recommended: DNS rebinding).
	AllowedHosts []string
	// TrustedProxies are the networks (CIDRs) of reverse proxies whose X-Forwarded-For names
	// the client address, for throttling and audit.
	TrustedProxies []string
	// MaxJobs bounds the write jobs running at once; MaxJobsPerUser those of one user.
	MaxJobs, MaxJobsPerUser int
	// SecretFile holds the cluster secret replicas share (job credentials are sealed with a
	// key derived from it); empty means <data-dir>/secret, generated when absent.
	SecretFile string
	// JobsRetention is how long finished jobs are kept.
	JobsRetention time.Duration
	// PATMaxAge is the lifetime of a personal access token made without one, and the
	// longest one may ask for (0: tokens may live forever).
	PATMaxAge time.Duration
	// JobTimeout bounds one run of a job.
	JobTimeout time.Duration
	// VulnDBURL is the OSV archive the vulnerability database is fetched from ("": none).
	VulnDBURL string
	// VulnDBInterval is how often VulnDBURL is checked for a new archive.
	VulnDBInterval time.Duration
	// ScanConcurrency bounds the image scans running at once on each replica.
	ScanConcurrency int
	// PullPolicySeverity refuses pulls through /v2 of images with findings at or above it.
	PullPolicySeverity string
	// ChartsPrefix is the repository prefix ChartMuseum uploads are stored under.
	ChartsPrefix string
	// ChartsAllowOverwrite lets a chart upload replace an existing version.
	ChartsAllowOverwrite bool
	// ChartsMaxSize bounds a chart archive, uploaded or read, in bytes.
	ChartsMaxSize int64
	// MaxImportSize bounds an archive uploaded to POST /api/v1/imports, uncompressed, in bytes.
	MaxImportSize int64
	// AccessControl makes Berth the registry's token service and the judge of who may do
	// what (server/auth); off, the registry decides, as without Berth.
	AccessControl bool
	// TokenTTL is the lifetime of a registry access token.
	TokenTTL time.Duration
	// TokenIssuer and TokenService are the tokens' iss and aud (the registry's auth.token
	// issuer and service).
	TokenIssuer, TokenService string
	// TokenRealm is the token endpoint URL registries send clients to; empty means the
	// embedded registry's own address, or PublicURL + /auth/token.
	TokenRealm string
	// DefaultAccess is what signed-in users may do to repositories outside any namespace:
	// none or pull.
	DefaultAccess string
	// AdminUser and AdminPasswordFile create the first administrator at start.
	AdminUser, AdminPasswordFile string
	// OIDCIssuer, if set, turns on sign-in through that OpenID Connect provider (access
	// control); OIDCClientID and the secret in OIDCClientSecretFile are Berth's client there.
	OIDCIssuer, OIDCClientID, OIDCClientSecretFile string
	// OIDCGroupsClaim names the ID token claim listing the user's groups.
	OIDCGroupsClaim string
	// OIDCRedirectURL is the callback the provider sends users back to; empty means
	// PublicURL + /auth/oidc/callback.
	OIDCRedirectURL string
	// OIDCTeamMap maps provider groups to teams: group=team or group=team:role.
	OIDCTeamMap []string
	// LDAP configures sign-in against an LDAP directory (ldap.go).
	LDAP LDAP
}

// Default returns the configuration used when no flag or variable is set.
func Default() Config {
	return Config{
		Addr:             "127.0.0.1:8080",
		DataDir:          "data",
		EmbeddedAddr:     "127.0.0.1:5000",
		UpstreamTimeout:  30 * time.Second,
		Concurrency:      16,
		SessionTTL:       12 * time.Hour,
		LogLevel:         "info",
		LogFormat:        "text",
		EventsPath:       "/events",
		EventsRetention:  90 * 24 * time.Hour,
		SyncInterval:     10 * time.Minute,
		CacheSize:        64 << 20,
		AnonymousWrites:  true, // the embedded demo registry is the default
		MaxJobs:          16,
		MaxJobsPerUser:   4,
		JobsRetention:    7 * 24 * time.Hour,
		PATMaxAge:        365 * 24 * time.Hour,
		JobTimeout:       time.Hour,
		ChartsPrefix:     "charts/",
		ChartsMaxSize:    10 << 20,
		MaxImportSize:    2 << 30,
		TokenTTL:         5 * time.Minute,
		TokenIssuer:      "berth",
		TokenService:     "berth-registry",
		DefaultAccess:    "none",
		AdminUser:        "admin",
		OIDCGroupsClaim:  "groups",
		LDAP:             defaultLDAP(),
		WebhookRetryWait: 10 * time.Second,
		VulnDBInterval:   6 * time.Hour,
		ScanConcurrency:  1,
	}
}

// DatabaseDSN is the event store DSN to open: Database, or the SQLite file in DataDir.
func (c Config) DatabaseDSN() string {
	if c.Database != "" {
		return c.Database
	}
	return "sqlite:" + filepath.Join(c.DataDir, "berth.db")
}

// ParseDuration is api.ParseDuration: durations in days (90d) or Go's form (12h).
var ParseDuration = api.ParseDuration

// ErrHelp is returned by Load when the user asked for --help; usage has been printed.
var ErrHelp = flag.ErrHelp

// Load parses args (without the program name) over defaults taken from the environment via
// getenv. Flags win over variables, variables over defaults. Usage goes to out.
func Load(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("berth", flag.ContinueOnError)
	fs.SetOutput(out)

	// An unreadable variable is an error only if no flag replaces it.
	envErrs := map[string]error{}
	str := func(p *string, name, usage string) {
		if v := getenv(envName(name)); v != "" {
			*p = v
		}
		fs.StringVar(p, name, *p, usage)
	}
	boolean := func(p *bool, name, usage string) {
		if v := getenv(envName(name)); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				envErrs[name] = fmt.Errorf("%s=%q: not a boolean", envName(name), v)
			}
			*p = b
		}
		fs.BoolVar(p, name, *p, usage)
	}
	duration := func(p *time.Duration, name, usage string) {
		if v := getenv(envName(name)); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				envErrs[name] = fmt.Errorf("%s=%q: not a duration such as 30s", envName(name), v)
			}
			*p = d
		}
		fs.DurationVar(p, name, *p, usage)
	}
	integer := func(p *int, name, usage string) {
		if v := getenv(envName(name)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				envErrs[name] = fmt.Errorf("%s=%q: not a number", envName(name), v)
			}
			*p = n
		}
		fs.IntVar(p, name, *p, usage)
	}

	str(&c.Addr, "addr", "address to serve the UI, /api and the /v2 proxy on")
	str(&c.Registry, "registry", "base URL of an external registry, e.g. https://registry.example.com (empty: run the embedded registry)")
	str(&c.DataDir, "data-dir", "directory for the embedded registry's storage and local state")
	str(&c.EmbeddedAddr, "embedded-addr", "address the embedded registry also listens on for docker, crane and skopeo (\"off\" to disable)")
	boolean(&c.NoDemo, "no-demo", "do not seed demo repositories into an empty embedded registry")
	origins := &listValue{}
	if v := getenv("BERTH_CORS_ORIGINS"); v != "" {
		for _, o := range strings.Split(v, ",") {
			_ = origins.Set(strings.TrimSpace(o))
		}
		origins.fromEnv = true
	}
	fs.Var(origins, "cors-origin", "browser origin allowed to call /v2 and /api cross-origin, e.g. https://ui.example.com (repeatable; env BERTH_CORS_ORIGINS is comma-separated)")
	duration(&c.UpstreamTimeout, "upstream-timeout", "how long to wait for the registry to connect and answer headers")
	str(&c.WebDir, "web-dir", "serve app.wasm, CSS and icons from this directory instead of the copies embedded in the binary (development: make wasm, then reload)")
	boolean(&c.ReadOnly, "read-only", "refuse every write (push, delete) through the proxy and the API")
	boolean(&c.ClientRendered, "client-rendered", "serve pages without their data: the browser fetches it after app.wasm starts")
	integer(&c.Concurrency, "concurrency", "registry requests made at once to gather details for one page")
	str(&c.PublicHost, "public-host", "registry host users pull from, shown in pull commands (default: the registry's host)")
	str(&c.RegistryUsername, "registry-username", "username Berth reads the registry with (service credentials); empty: users sign in themselves")
	str(&c.RegistryPasswordFile, "registry-password-file", "file holding the password for --registry-username (kept out of flags, env and logs)")
	duration(&c.SessionTTL, "session-ttl", "how long a user who signed in stays signed in while idle")
	str(&c.LogLevel, "log-level", "log level: debug, info, warn or error")
	str(&c.LogFormat, "log-format", "log format: text or json")
	str(&c.Database, "database", "event store: postgres://user:pass@host/db or a SQLite file path (default: <data-dir>/berth.db)")
	str(&c.EventsPath, "events-path", "path of the registry notification webhook")
	str(&c.EventsSecretFile, "events-secret-file", "file holding the bearer token the registry must send to the webhook (empty: no token required)")
	days := func(p *time.Duration, name, usage string) {
		if v := getenv(envName(name)); v != "" {
			if err := (daysValue{p}).Set(v); err != nil {
				envErrs[name] = fmt.Errorf("%s: %w", envName(name), err)
			}
		}
		fs.Var(daysValue{p}, name, usage)
	}
	days(&c.EventsRetention, "events-retention", "how long to keep registry events, e.g. 90d or 720h (0: forever)")
	duration(&c.SyncInterval, "sync-interval", "how often to walk the registry for changes the webhook missed (0: never)")
	str(&c.Cache, "cache", "shared manifest cache: redis://[user:password@]host:6379/0 or rediss://… (empty: in-process only)")
	if v := getenv(envName("cache-size")); v != "" {
		if err := (sizeValue{&c.CacheSize}).Set(v); err != nil {
			envErrs["cache-size"] = fmt.Errorf("%s: %w", envName("cache-size"), err)
		}
	}
	fs.Var(sizeValue{&c.CacheSize}, "cache-size", "bytes the in-process manifest cache may hold, e.g. 268435456 or 256MiB")

	anonWrites := false
	boolean(&anonWrites, "anonymous-writes", "let writes run without a signed-in user, with Berth's own registry access (default: on only for the embedded demo registry)")
	remotes := commaList(getenv, fs, "remote-registries", "other registries copies may read from or write to, comma-separated base URLs (empty: none)")
	extra := repeatable(getenv, fs, "extra-registry", "a registry endpoint replication rules and copies may reach, name=URL (repeatable; env BERTH_EXTRA_REGISTRY is comma-separated)")
	if v := getenv(envName("replication-bandwidth")); v != "" {
		if err := (sizeValue{&c.ReplicationBandwidth}).Set(v); err != nil {
			envErrs["replication-bandwidth"] = fmt.Errorf("%s: %w", envName("replication-bandwidth"), err)
		}
	}
	fs.Var(sizeValue{&c.ReplicationBandwidth}, "replication-bandwidth", "bytes per second replication may read on each replica, e.g. 50MiB (0: no bound)")
	repos := commaList(getenv, fs, "repositories", "repositories to list where the registry refuses its catalog (GitLab, GHCR, Harbor), comma-separated")
	str(&c.RepositoriesFile, "repositories-file", "file naming repositories to list where the registry refuses its catalog, one per line (# comments)")
	boolean(&c.EventsInsecure, "events-insecure", "accept registry notifications without --events-secret-file (anyone who reaches Berth can post events)")
	str(&c.PublicURL, "public-url", "the URL users open Berth at, e.g. https://berth.example.com; its host is accepted in Host headers")
	webhookHosts := commaList(getenv, fs, "webhook-hosts", "hosts outbound webhooks may target, comma-separated host or host:port (internal addresses only when listed; \"*\": any public host; empty: none)")
	hosts := commaList(getenv, fs, "allowed-hosts", "further Host header values to accept, comma-separated (loopback names and --public-url's host always are)")
	proxies := commaList(getenv, fs, "trusted-proxies", "networks (CIDRs) of reverse proxies whose X-Forwarded-For gives the client address, comma-separated")
	integer(&c.MaxJobs, "max-jobs", "write jobs running at once, in total")
	integer(&c.MaxJobsPerUser, "max-jobs-per-user", "write jobs one user may have running at once")
	str(&c.SecretFile, "secret-file", "file holding the cluster secret every replica shares, which seals job credentials (default: <data-dir>/secret, generated when absent)")
	days(&c.JobsRetention, "jobs-retention", "how long finished jobs are kept, e.g. 7d or 24h")
	days(&c.PATMaxAge, "pat-max-age", "with --access-control: lifetime of a personal access token made without one, and the longest allowed (0: no limit)")
	duration(&c.WebhookRetryWait, "webhook-retry-wait", "wait before a failed webhook delivery is retried, doubling after each try (6 tries)")
	duration(&c.JobTimeout, "job-timeout", "longest one run of a write job may take; a replica that stops mid-job has it taken over a little after this")
	str(&c.VulnDBURL, "vuln-db-url", "OSV vulnerability database archive (a zip of OSV records, e.g. a mirror of osv.dev's <ecosystem>/all.zip) fetched periodically; empty: nothing is fetched")
	duration(&c.VulnDBInterval, "vuln-db-interval", "how often --vuln-db-url is checked for a new archive")
	integer(&c.ScanConcurrency, "scan-concurrency", "image scans running at once on each replica")
	str(&c.PullPolicySeverity, "pull-policy-severity", "refuse pulls through Berth's /v2 of images with a finding at or above this severity (critical, high, medium, low); empty: no policy")
	str(&c.ChartsPrefix, "charts-prefix", "repository prefix for charts uploaded through the ChartMuseum API (helm cm-push)")
	boolean(&c.ChartsAllowOverwrite, "charts-allow-overwrite", "let a chart upload replace an existing version instead of answering 409")
	if v := getenv(envName("charts-max-size")); v != "" {
		if err := (sizeValue{&c.ChartsMaxSize}).Set(v); err != nil {
			envErrs["charts-max-size"] = fmt.Errorf("%s: %w", envName("charts-max-size"), err)
		}
	}
	fs.Var(sizeValue{&c.ChartsMaxSize}, "charts-max-size", "largest chart archive accepted or read, e.g. 10MiB")
	if v := getenv(envName("max-import-size")); v != "" {
		if err := (sizeValue{&c.MaxImportSize}).Set(v); err != nil {
			envErrs["max-import-size"] = fmt.Errorf("%s: %w", envName("max-import-size"), err)
		}
	}
	fs.Var(sizeValue{&c.MaxImportSize}, "max-import-size", "largest image archive POST /api/v1/imports takes (uncompressed), e.g. 2GiB; 413 past it")
	boolean(&c.AccessControl, "access-control", "be the registry's token service: local users, teams, namespaces, robots and tokens decide who may pull, push and delete")
	duration(&c.TokenTTL, "token-ttl", "lifetime of a registry access token (access control)")
	str(&c.TokenIssuer, "token-issuer", "issuer name in registry tokens (the registry's auth.token.issuer)")
	str(&c.TokenService, "token-service", "service name in registry tokens (the registry's auth.token.service)")
	str(&c.TokenRealm, "token-realm", "token endpoint URL the registry sends clients to (default: the embedded registry's address, or --public-url + /auth/token)")
	str(&c.DefaultAccess, "default-access", "what signed-in users may do to repositories outside any namespace: none or pull")
	str(&c.AdminUser, "admin-user", "name of the first administrator created from --admin-password-file")
	str(&c.AdminPasswordFile, "admin-password-file", "file with the first administrator's password (access control); without it, the first start prints a one-time setup link")
	str(&c.OIDCIssuer, "oidc-issuer", "OpenID Connect provider to sign in with (access control), e.g. https://login.example.com/realms/main")
	str(&c.OIDCClientID, "oidc-client-id", "Berth's client id at the OpenID Connect provider")
	str(&c.OIDCClientSecretFile, "oidc-client-secret-file", "file with Berth's client secret at the OpenID Connect provider")
	str(&c.OIDCGroupsClaim, "oidc-groups-claim", "ID token claim listing the user's groups, mapped to teams of the same name")
	str(&c.OIDCRedirectURL, "oidc-redirect-url", "callback URL registered at the provider (default: --public-url + /auth/oidc/callback)")
	teamMap := commaList(getenv, fs, "oidc-team-map", "provider groups to teams, comma-separated: group=team or group=team:role (role developer unless given)")
	finishLDAP := c.LDAP.flags(str, boolean, duration, func(name, usage string) *[]string { return commaList(getenv, fs, name, usage) })

	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: berth [flags]\n\nBerth serves a web UI for a Docker/OCI registry, a CORS-enabled /v2 proxy to it and a JSON API.\nWith no --registry it runs an embedded registry storing under --data-dir, seeded with demo content.\n\nOther commands (each with its own --help; flags may follow the arguments):\n  berth cp SRC DST          copy an image, index or artifact, with its referrers\n  berth push FILE REPO[:T]  push the images of a docker save or OCI-layout tarball\n  berth rm REF...           delete tags or manifests\n  berth cleanup --repo R    delete tags by rule (--keep, --older-than, --dry-run)\n  berth gc                  garbage-collect the embedded registry (refuses while Berth runs)\n  berth export DIR          write the UI as a static site\n  berth user                add, list, disable or enable users for --access-control\n  berth team                create or delete teams, set members' roles\n  berth token               create or revoke a user's access tokens\n  berth keys rotate         rotate the token signing key\n  berth registry-config     print the auth and notifications config for an external registry\n  berth registry            add, list, test or remove registry endpoints for replication\n  berth replication         add, edit, list or remove replication rules\n  berth replicate RULE      run a replication rule here (--dry-run: only list what it would do)\n  berth namespace          a namespace's immutable tags, quota, webhooks and retention\n  berth scan REF            scan an image for vulnerabilities (--fail-on SEVERITY for CI)\n  berth vulndb              the vulnerability database: status, or import FILE\n\nFlags (each also read from the environment variable shown):\n")
		fs.VisitAll(func(f *flag.Flag) {
			env := envName(f.Name)
			if f.Name == "cors-origin" {
				env = "BERTH_CORS_ORIGINS"
			}
			def := ""
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && f.DefValue != "0" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(out, "  --%s  [%s]%s\n      %s\n", f.Name, env, def, f.Usage)
		})
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { delete(envErrs, f.Name) })
	var errs []error
	for _, err := range envErrs {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	c.CORSOrigins = origins.values
	c.ExtraRegistries = extra.values
	c.OIDCTeamMap = *teamMap
	finishLDAP()
	c.RemoteRegistries, c.AllowedHosts, c.TrustedProxies, c.Repositories = *remotes, *hosts, *proxies, *repos
	c.WebhookHosts = *webhookHosts
	// The embedded demo registry is open to anyone who reaches it anyway; anywhere else,
	// anonymous writes are the operator's explicit choice.
	c.AnonymousWrites = anonWrites
	if _, set := visited(fs)["anonymous-writes"]; !set && getenv(envName("anonymous-writes")) == "" {
		c.AnonymousWrites = c.Embedded() && !c.AccessControl
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	if c.Registry != "" {
		u, err := url.Parse(c.Registry)
		if err == nil && u.User != nil {
			return errors.New("--registry must not carry credentials in the URL: use --registry-username and --registry-password-file")
		}
		if err != nil {
			return errors.New("--registry: not a URL; want one such as https://registry.example.com")
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--registry %q: want a URL such as https://registry.example.com", u.Redacted())
		}
		c.Registry = u.Scheme + "://" + u.Host
	}
	for _, o := range c.CORSOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("--cors-origin %q: want an origin such as https://ui.example.com or *", o)
		}
	}
	for i, r := range c.RemoteRegistries {
		u, err := url.Parse(strings.TrimRight(r, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Path != "" {
			return fmt.Errorf("--remote-registries %q: want base URLs such as https://ghcr.io", r)
		}
		c.RemoteRegistries[i] = u.Scheme + "://" + strings.ToLower(u.Host)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--public-url %q: want a URL such as https://berth.example.com", c.PublicURL)
		}
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				return fmt.Errorf("--trusted-proxies %q: want CIDRs such as 10.0.0.0/8", p)
			}
		}
	}
	if c.JobsRetention <= 0 || c.JobTimeout <= 0 {
		return errors.New("--jobs-retention and --job-timeout must be positive")
	}
	if c.MaxJobs < 1 || c.MaxJobsPerUser < 1 {
		return errors.New("--max-jobs and --max-jobs-per-user must be at least 1")
	}
	if c.UpstreamTimeout <= 0 {
		return errors.New("--upstream-timeout must be positive")
	}
	if (c.RegistryUsername == "") != (c.RegistryPasswordFile == "") {
		return errors.New("--registry-username and --registry-password-file go together")
	}
	if c.SessionTTL <= 0 {
		return errors.New("--session-ttl must be positive")
	}
	if c.Concurrency < 1 {
		return errors.New("--concurrency must be at least 1")
	}
	if !strings.HasPrefix(c.EventsPath, "/") || strings.ContainsAny(c.EventsPath, " {}") {
		return fmt.Errorf("--events-path %q: want an absolute path such as /events", c.EventsPath)
	}
	if c.EventsRetention < 0 || c.SyncInterval < 0 {
		return errors.New("--events-retention and --sync-interval must not be negative")
	}
	if c.Cache != "" {
		u, err := url.Parse(c.Cache)
		if err != nil {
			return errors.New("--cache: not a URL; want one such as redis://cache.example.com:6379/0")
		}
		if (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return fmt.Errorf("--cache %q: want a URL such as redis://cache.example.com:6379/0 or rediss://…", u.Redacted())
		}
	}
	if c.CacheSize < 0 {
		return errors.New("--cache-size must not be negative")
	}
	if c.AccessControl {
		if c.AnonymousWrites {
			return errors.New("--anonymous-writes cannot go with --access-control: every write is someone's")
		}
		if c.TokenTTL < 30*time.Second || c.TokenTTL > 24*time.Hour {
			return errors.New("--token-ttl must be between 30s and 24h")
		}
		if c.DefaultAccess != "none" && c.DefaultAccess != "pull" {
			return fmt.Errorf("--default-access %q: want none or pull", c.DefaultAccess)
		}
		if c.TokenIssuer == "" || c.TokenService == "" {
			return errors.New("--token-issuer and --token-service must not be empty")
		}
		if !c.Embedded() && c.TokenRealm == "" && c.PublicURL == "" {
			return errors.New("--access-control with --registry needs --token-realm or --public-url: the URL the registry sends clients to for tokens")
		}
		if c.TokenRealm != "" {
			if u, err := url.Parse(c.TokenRealm); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("--token-realm %q: want a URL such as https://berth.example.com/auth/token", c.TokenRealm)
			}
		}
	}
	if err := c.validateOIDC(); err != nil {
		return err
	}
	if err := c.LDAP.validate(c.AccessControl); err != nil {
		return err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	return nil
}

// validateOIDC checks the OpenID Connect flags: all of issuer, client id and secret or none,
// only with access control, and a callback URL Berth can name.
func (c *Config) validateOIDC() error {
	if c.OIDCIssuer == "" {
		if c.OIDCClientID != "" || c.OIDCClientSecretFile != "" || len(c.OIDCTeamMap) > 0 || c.OIDCRedirectURL != "" {
			return errors.New("--oidc-client-id, --oidc-client-secret-file, --oidc-team-map and --oidc-redirect-url need --oidc-issuer")
		}
		return nil
	}
	if !c.AccessControl {
		return errors.New("--oidc-issuer needs --access-control: OpenID Connect signs users in to Berth's own accounts")
	}
	if u, err := url.Parse(c.OIDCIssuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--oidc-issuer %q: want a URL such as https://login.example.com", c.OIDCIssuer)
	}
	if c.OIDCClientID == "" || c.OIDCClientSecretFile == "" {
		return errors.New("--oidc-issuer needs --oidc-client-id and --oidc-client-secret-file")
	}
	if c.OIDCGroupsClaim == "" {
		return errors.New("--oidc-groups-claim must not be empty")
	}
	if c.OIDCRedirectURL == "" && c.PublicURL == "" {
		return errors.New("--oidc-issuer needs --oidc-redirect-url or --public-url: the callback the provider sends users back to")
	}
	if c.OIDCRedirectURL != "" {
		if u, err := url.Parse(c.OIDCRedirectURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--oidc-redirect-url %q: want a URL such as https://berth.example.com/auth/oidc/callback", c.OIDCRedirectURL)
		}
	}
	for _, m := range c.OIDCTeamMap {
		group, team, ok := strings.Cut(m, "=")
		if !ok || group == "" || team == "" || strings.HasSuffix(team, ":") {
			return fmt.Errorf("--oidc-team-map entry %q: want group=team or group=team:role", m)
		}
	}
	return nil
}

// OIDCCallback is the URL the OpenID Connect provider sends users back to.
func (c Config) OIDCCallback() string {
	if c.OIDCRedirectURL != "" {
		return c.OIDCRedirectURL
	}
	return strings.TrimRight(c.PublicURL, "/") + "/auth/oidc/callback"
}

// SecretPath is the cluster secret file: SecretFile, or "secret" in DataDir.
func (c Config) SecretPath() string {
	if c.SecretFile != "" {
		return c.SecretFile
	}
	return filepath.Join(c.DataDir, "secret")
}

// Realm is the token endpoint registries send clients to; embeddedHost is the embedded
// registry's address (its listener also serves /auth/token).
func (c Config) Realm(embeddedHost string) string {
	switch {
	case c.TokenRealm != "":
		return c.TokenRealm
	case c.Embedded() && embeddedHost != "":
		return "http://" + embeddedHost + "/auth/token"
	}
	return strings.TrimRight(c.PublicURL, "/") + "/auth/token"
}

// Embedded reports whether Berth runs its own registry.
func (c Config) Embedded() bool { return c.Registry == "" }
