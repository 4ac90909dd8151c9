// Command berth serves Berth: the web UI, the /v2 proxy and the /api for a registry, and, with
// no registry configured, an embedded registry with demo content.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/proxy"
	"github.com/berth-registry/berth/server/reqlog"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	// cp, rm, cleanup and gc are admin commands (cli.go); anything else serves.
	if code, ok := runCommand(args, os.Stdout, stderr); ok {
		return code
	}
	cfg, err := config.Load(args, os.Getenv, stderr)
	if errors.Is(err, config.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "berth: %v\n", err)
		return 2
	}
	slog.SetDefault(newLogger(cfg, stderr))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, nil); err != nil {
		slog.Error("berth stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(reqlog.Handler{Handler: h})
}

// serve runs Berth until ctx is done, then shuts down gracefully. ready, if set, is called
// with the UI's URL once Berth accepts requests.
func serve(ctx context.Context, cfg config.Config, ready func(url string)) (err error) {
	st, err := store.Open(ctx, cfg.DatabaseDSN())
	if err != nil {
		return fmt.Errorf("event store: %w", err)
	}
	// Deferred first, so it runs last: after the servers drained and the writer stopped.
	defer func() { err = errors.Join(err, st.Close()) }()
	secret, err := eventsSecret(cfg)
	if err != nil {
		return err
	}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hook, err := events.NewWebhook(events.Options{Store: st, Secret: secret, Registerer: metrics})
	if err != nil {
		return err
	}
	defer hook.Close()

	// Listen before starting the embedded registry: it needs the webhook's address.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	upstream := cfg.Registry
	var servers []*http.Server
	var registryHost string
	if cfg.Embedded() {
		notify := embedded.WithNotifications("berth", "http://"+loopbackAddr(ln.Addr())+cfg.EventsPath,
			http.Header{"Authorization": {"Bearer " + secret}}, 5*time.Second, time.Second)
		regSrv, addr, err := startEmbedded(ctx, cfg, notify)
		if err != nil {
			return err
		}
		servers = append(servers, regSrv)
		upstream = "http://" + addr
		registryHost = addr
	}

	handler, err := site.New(site.Options{
		Config: cfg, Upstream: upstream, Version: version,
		Webhook:  hook,
		Metrics:  promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}),
		Activity: events.NewAPI(st).Handler(),
		Record:   hook.Record,
		Stop:     ctx,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No read or write timeout: blob uploads and downloads stream for as long as they need.
		ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
	servers = append([]*http.Server{srv}, servers...)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if registryHost != "" && !cfg.NoDemo {
		// Seeding first means the first page a new user opens already shows the demo; the
		// UI server runs already, so the pushes' notifications are stored as they happen.
		seedDemo(ctx, registryHost)
	}
	bctx, stopBackground := context.WithCancel(ctx)
	var background sync.WaitGroup
	defer func() {
		stopBackground()
		background.Wait()
	}()
	if err := startBackground(bctx, &background, cfg, st, hook, upstream, metrics); err != nil {
		stopBackground()
		_ = srv.Close()
		return err
	}
	uiURL := "http://" + browserAddr(ln.Addr())
	slog.Info("Berth is running: open it in your browser", "url", uiURL, "registry", upstream, "version", version, "read_only", cfg.ReadOnly)
	if ready != nil {
		ready(uiURL)
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	slog.Info("shutting down")
	stopBackground()
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var errs []error
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// startEmbedded runs the in-process registry on its own port, so docker, crane and skopeo can
// push to it, and seeds demo content into it when its store is empty.
func startEmbedded(ctx context.Context, cfg config.Config, opts ...embedded.Option) (*http.Server, string, error) {
	dir := filepath.Join(cfg.DataDir, "registry")
	reg, err := embedded.New(ctx, dir, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("embedded registry: %w", err)
	}
	addr := cfg.EmbeddedAddr
	if addr == "" || addr == "off" {
		// The proxy still needs to reach it; a random loopback port is not advertised.
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("embedded registry: listen on %s: %w (set --embedded-addr to another port)", addr, err)
	}
	srv := &http.Server{Handler: reg.Handler(), ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(func() { _ = reg.Close() })
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("embedded registry stopped", "err", err)
		}
	}()
	host := ln.Addr().String()
	slog.Info("embedded registry is running", "addr", host, "storage", dir)
	return srv, host, nil
}

func seedDemo(ctx context.Context, host string) {
	empty, err := demo.Empty(ctx, host, remote.WithContext(ctx))
	if err != nil {
		slog.Warn("demo content: cannot read the catalog", "err", err)
		return
	}
	if !empty {
		return
	}
	start := time.Now()
	if err := demo.Seed(ctx, host, remote.WithContext(ctx)); err != nil {
		slog.Warn("demo content: seeding failed", "err", err)
		return
	}
	slog.Info("demo content pushed", "repositories", len(demo.Repositories()), "took", time.Since(start).Round(time.Millisecond))
}

// eventsSecret reads the webhook's bearer token. The embedded registry gets a random one when
// none is configured, so nothing else can post events into Berth.
func eventsSecret(cfg config.Config) (string, error) {
	if cfg.EventsSecretFile != "" {
		b, err := os.ReadFile(cfg.EventsSecretFile)
		if err != nil {
			return "", fmt.Errorf("--events-secret-file: %w", err)
		}
		secret := strings.TrimSpace(string(b))
		if secret == "" {
			return "", fmt.Errorf("--events-secret-file %s is empty", cfg.EventsSecretFile)
		}
		return secret, nil
	}
	if cfg.Embedded() {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("events secret: %w", err)
		}
		return hex.EncodeToString(b[:]), nil
	}
	slog.Warn("the notification webhook accepts events from anyone: set --events-secret-file", "path", cfg.EventsPath)
	return "", nil
}

// startBackground runs the registry sync and the retention pruning until ctx is done.
func startBackground(ctx context.Context, wg *sync.WaitGroup, cfg config.Config, st store.Store, hook *events.Webhook, upstream string, metrics prometheus.Registerer) error {
	if cfg.SyncInterval > 0 {
		auth, err := site.ServiceAuth(cfg)
		if err != nil {
			return err
		}
		syncer, err := events.NewSyncer(events.SyncOptions{
			Registry: upstream, Transport: proxy.NewTransport(cfg.UpstreamTimeout), Concurrency: cfg.Concurrency,
			Store: st, Record: hook.Record, Registerer: metrics, Auth: auth,
		})
		if err != nil {
			return err
		}
		delay := time.Duration(0)
		if cfg.Embedded() {
			delay = 30 * time.Second // the demo's notifications are still being delivered
		}
		wg.Go(func() { syncer.Run(ctx, delay, cfg.SyncInterval) })
	}
	if cfg.EventsRetention > 0 {
		wg.Go(func() { prune(ctx, st, cfg.EventsRetention) })
	}
	return nil
}

// prune deletes events older than retention, at start and then hourly.
func prune(ctx context.Context, st store.Store, retention time.Duration) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := st.Prune(ctx, time.Now().Add(-retention))
		if err != nil && ctx.Err() == nil {
			slog.Warn("pruning old events failed", "err", err)
		} else if n > 0 {
			slog.Info("pruned old events", "events", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// loopbackAddr is how this process reaches its own listener: unspecified hosts become
// 127.0.0.1.
func loopbackAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// browserAddr turns a listen address into one a browser can open (0.0.0.0 → localhost).
func browserAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
