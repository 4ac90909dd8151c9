package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registry"
)

// target is where a command works: --registry, or the embedded registry's storage in
// --data-dir, served on a loopback port for the command's duration.
type target struct {
	registry string
	dataDir  string
}

func (t *target) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.registry, "registry", os.Getenv("BERTH_REGISTRY"), "registry base URL, e.g. http://127.0.0.1:5000 (default: the embedded registry's storage in --data-dir)")
	fs.StringVar(&t.dataDir, "data-dir", envOr("BERTH_DATA_DIR", "data"), "Berth's data directory, whose embedded registry is used without --registry")
}

// open returns the registry to work on and a function that stops it when embedded.
// Credentials come from the Docker config (docker login), as for docker and crane.
func (t *target) open(ctx context.Context, c *cli) (*registry.Client, func(), error) {
	if t.registry != "" {
		reg, err := keychainRegistry(t.registry)
		return reg, func() {}, err
	}
	dir, err := registryDir(t.dataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("%w, or --registry URL for another registry", err)
	}
	unlock, err := lockData(t.dataDir, false)
	if err != nil {
		return nil, nil, err
	}
	reg, err := embedded.New(ctx, dir)
	if err != nil {
		unlock()
		return nil, nil, fmt.Errorf("cannot open the embedded registry in %s: %w", dir, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = reg.Close()
		unlock()
		return nil, nil, fmt.Errorf("embedded registry: %w", err)
	}
	srv := &http.Server{Handler: reg.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = reg.Close()
		unlock()
	}
	host := ln.Addr().String()
	c.names = strings.NewReplacer("the registry at "+host, "the embedded registry in "+dir,
		"The registry at "+host, "The embedded registry in "+dir, host+"/", "")
	client, err := registry.New(registry.Options{URL: "http://" + host, ServiceWrites: true})
	if err != nil {
		stop()
		return nil, nil, err
	}
	return client, stop, nil
}

// registryDir is the embedded registry's storage in dataDir, which must be there: commands
// never create it.
func registryDir(dataDir string) (string, error) {
	dir := filepath.Join(dataDir, "registry")
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("there is no embedded registry in %s (no %s): give --data-dir as Berth runs with it", dataDir, dir)
	}
	return dir, nil
}

// keychainRegistry returns the registry at url with the Docker config's credentials for it.
// The CLI is the operator's tool: it writes with those credentials.
func keychainRegistry(url string) (*registry.Client, error) {
	auth, err := registry.Keychain(url)
	if err != nil {
		return nil, fmt.Errorf("cannot read the Docker config's credentials for %s: %w", url, err)
	}
	return registry.New(registry.Options{URL: url, Auth: auth, ServiceWrites: true})
}

// lockFile is the lock a data directory's users hold: Berth serving its embedded registry and
// the commands working on its storage hold it shared, berth gc exclusively — a sweep while
// anything else writes can lose blobs.
const lockFile = "berth.lock"

// lockData takes dataDir's lock without waiting, exclusively or shared; unlock releases it.
func lockData(dataDir string, exclusive bool) (unlock func(), err error) {
	l := flock.New(filepath.Join(dataDir, lockFile))
	var ok bool
	if exclusive {
		ok, err = l.TryLock()
	} else {
		ok, err = l.TryRLock()
	}
	if err != nil {
		return nil, fmt.Errorf("cannot lock %s: %w", l.Path(), err)
	}
	if !ok {
		if exclusive {
			return nil, fmt.Errorf("Berth, or another berth command, is using %s: stop it, then run berth gc again", dataDir)
		}
		return nil, fmt.Errorf("berth gc is running on %s: wait until it ends", dataDir)
	}
	return func() { _ = l.Close() }, nil
}
