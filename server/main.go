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

	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/reqlog"
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
	empty, err := demo.Empty(ctx, host)
	if err != nil {
		slog.Warn("demo content: cannot read the catalog", "err", err)
		return
	}
	if !empty {
		return
	}
	start := time.Now()
	if err := demo.Seed(ctx, host); err != nil {
		slog.Warn("demo content: seeding failed", "err", err)
		return
	}
	slog.Info("demo content pushed", "repositories", len(demo.Repositories()), "took", time.Since(start).Round(time.Millisecond))
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
