// Command berth serves Berth: the web UI, the /v2 proxy and the /api for a registry, and, with
// no registry configured, an embedded registry with demo content.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/governance"
	"github.com/berth-registry/berth/server/reqlog"
	"github.com/berth-registry/berth/server/site"
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

// startEmbedded runs the in-process registry on its own port, so docker, crane and skopeo can
// push to it, and seeds demo content into it when its store is empty. With access control
// (control set) it takes Berth's tokens, and its port serves /auth/token too, so clients (and
// go-containerregistry, which follows a realm on a private address only when it is the
// registry's own) find the token service at the registry's address.
func startEmbedded(ctx context.Context, cfg config.Config, control *auth.Control, gov *governance.Service, opts ...embedded.Option) (*http.Server, *embedded.Registry, string, error) {
	dir := filepath.Join(cfg.DataDir, "registry")
	// Held shared while Berth runs, so berth gc refuses to sweep under it (cli_target.go).
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, nil, "", fmt.Errorf("data directory: %w", err)
	}
	unlock, err := lockData(cfg.DataDir, false)
	if err != nil {
		return nil, nil, "", err
	}
	srv, reg, host, err := serveEmbedded(ctx, cfg, control, gov, dir, opts)
	if err != nil {
		unlock()
		return nil, nil, "", err
	}
	srv.RegisterOnShutdown(unlock)
	return srv, reg, host, nil
}

// serveEmbedded opens the embedded registry's storage in dir and serves it.
func serveEmbedded(ctx context.Context, cfg config.Config, control *auth.Control, gov *governance.Service, dir string, opts []embedded.Option) (*http.Server, *embedded.Registry, string, error) {
	addr := cfg.EmbeddedAddr
	if addr == "" || addr == "off" {
		// The proxy still needs to reach it; a random loopback port is not advertised.
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, "", fmt.Errorf("embedded registry: listen on %s: %w (set --embedded-addr to another port)", addr, err)
	}
	host := ln.Addr().String()
	if control != nil {
		bundle, err := writeBundle(ctx, cfg, control)
		if err != nil {
			ln.Close()
			return nil, nil, "", err
		}
		opts = append(opts, embedded.WithTokenAuth(cfg.Realm(host), cfg.TokenService, cfg.TokenIssuer, bundle))
	}
	reg, err := embedded.New(ctx, dir, opts...)
	if err != nil {
		ln.Close()
		return nil, nil, "", fmt.Errorf("embedded registry: %w", err)
	}
	handler := reg.Handler()
	if control != nil {
		mux := http.NewServeMux()
		trusted, _ := access.ParseProxies(cfg.TrustedProxies) // config.Load checked them
		site.Tokens(mux, control.Tokens, trusted)
		mux.Handle("/", guardV2(gov, reg.Handler()))
		handler = mux
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(func() { _ = reg.Close() })
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("embedded registry stopped", "err", err)
		}
	}()
	slog.Info("embedded registry is running", "addr", host, "storage", dir, "access_control", control != nil)
	return srv, reg, host, nil
}

// seedDemo pushes the demo content into an empty embedded registry; with access control it
// pushes with Berth's own tokens; before runs first (the pushes are scanned as they come).
// It reports whether it pushed.
func seedDemo(ctx context.Context, host string, control *auth.Control, before func()) bool {
	var opts []demo.Option
	if control != nil {
		opts = append(opts, demo.Through(auth.NewServiceTransport(control.Issuer, http.DefaultTransport)))
	}
	empty, err := demo.Empty(ctx, host, opts...)
	if err != nil {
		slog.Warn("demo content: cannot read the catalog", "err", err)
		return false
	}
	if !empty {
		return false
	}
	before()
	start := time.Now()
	if err := demo.Seed(ctx, host, opts...); err != nil {
		slog.Warn("demo content: seeding failed", "err", err)
		return false
	}
	slog.Info("demo content pushed", "repositories", len(demo.Repositories()), "took", time.Since(start).Round(time.Millisecond))
	return true
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
