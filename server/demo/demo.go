// Package demo fills a registry with realistic-looking repositories — nested names, several
// tags per repository, multi-platform indexes, Docker and OCI manifests, labelled configs with
// history — so the UI has something to show. All content is generated in memory from fixed
// seeds and dates, so every run produces the same digests.
package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Option adjusts how the demo content reaches the registry.
type Option = remote.Option

// Through makes the seeder's requests go through rt (e.g. one presenting Berth's own tokens).
func Through(rt http.RoundTripper) Option { return remote.WithTransport(rt) }

// Seed pushes the demo repositories to the registry at host (e.g. "127.0.0.1:5000", plain HTTP),
// using opts (e.g. Through) for every push. It is idempotent.
func Seed(ctx context.Context, host string, opts ...remote.Option) error {
	// ctx goes last so it wins over a WithContext in opts.
	pusher, err := remote.NewPusher(append(slices.Clone(opts), remote.WithContext(ctx))...)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	repos := catalog()
	errs := make([]error, len(repos))
	var wg sync.WaitGroup
	// Repositories are independent; pushing them side by side keeps seeding to about a second.
	for i, repo := range repos {
		wg.Go(func() { errs[i] = seedRepository(ctx, pusher, host, repo) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := seedArtifacts(ctx, pusher, host, opts); err != nil {
		return err
	}
	if err := seedCharts(ctx, pusher, host); err != nil {
		return err
	}
	if err := seedScanned(ctx, pusher, host); err != nil {
		return err
	}
	return seedInside(ctx, pusher, host)
}

func seedRepository(ctx context.Context, pusher *remote.Pusher, host string, repo repository) error {
	for _, rel := range repo.releases {
		artifact, err := rel.artifact()
		if err != nil {
			return fmt.Errorf("demo: build %s:%s: %w", repo.name, rel.tags[0], err)
		}
		for _, tag := range rel.tags {
			ref, err := name.NewTag(host+"/"+repo.name+":"+tag, name.Insecure)
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			// Push skips blobs and manifests the registry already has, which is what makes a
			// second Seed cheap.
			if err := pusher.Push(ctx, ref, artifact); err != nil {
				return fmt.Errorf("demo: push %s: %w", ref, err)
			}
		}
	}
	return nil
}

// Empty reports whether the registry's catalog has no repositories (so the caller seeds only an empty store).
func Empty(ctx context.Context, host string, opts ...remote.Option) (bool, error) {
	reg, err := name.NewRegistry(host, name.Insecure)
	if err != nil {
		return false, fmt.Errorf("demo: %w", err)
	}
	repos, err := remote.CatalogPage(reg, "", 1, append(slices.Clone(opts), remote.WithContext(ctx))...)
	if err != nil {
		return false, fmt.Errorf("demo: list catalog of %s: %w", host, err)
	}
	return len(repos) == 0, nil
}

// Repositories lists the repository names Seed creates (tests and the e2e test use it).
func Repositories() []string {
	repos := catalog()
	names := append(artifactRepositories(), InsideRepo, ScanRepo)
	for _, r := range repos {
		names = append(names, r.name)
	}
	slices.Sort(names)
	return names
}

// artifact builds the release: a plain image for one platform, an index for several.
func (r release) artifact() (remote.Taggable, error) {
	imgs := make([]v1.Image, 0, len(r.platforms))
	for _, p := range r.platforms {
		img, err := r.build(p).build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		imgs = append(imgs, img)
	}
	if len(imgs) == 1 {
		return imgs[0], nil
	}
	return index(r.format, imgs...)
}

// catalog is the demo content. Releases are oldest first; tags shared by one release point
// at the same digest, like latest does on a real registry.
func catalog() []repository {
	one := []v1.Platform{amd64}

	apiServer := service{
		repo: "team/api/server", binary: "server", size: 400 << 10,
		ports: []string{"8080/tcp", "9090/tcp"}, cmd: []string{"--config", "/app/config.yaml"},
		env: "production", format: oci, extra: serviceConfig("production"),
	}
	worker := service{
		repo: "team/api/worker", binary: "worker", size: 260 << 10,
		cmd: []string{"--queue", "default", "--concurrency", "8"},
		env: "production", format: docker, extra: serviceConfig("production"),
	}
	ledger := service{
		repo: "staging/payments/ledger", binary: "ledger", size: 320 << 10,
		ports: []string{"8080/tcp"}, volumes: []string{"/var/lib/ledger"}, cmd: []string{"serve"},
		env: "staging", format: oci,
		extra: append(serviceConfig("staging"),
			text("/app/migrations/0001_accounts.sql", "CREATE TABLE accounts (\n  id uuid PRIMARY KEY,\n  currency char(3) NOT NULL,\n  created_at timestamptz NOT NULL DEFAULT now()\n);\n"),
			text("/app/migrations/0002_entries.sql", string(prose("ledger-entries.sql", 12<<10))),
		),
	}
	mainRev := hexID("team/api/server@main", 40)
	ledgerRelease := func(tags []string, age int) release {
		v := tags[0]
		return release{tags: tags, platforms: one, build: ledger.image(v, hexID(ledger.repo+"@"+v, 40), daysAgo(age))}
	}
	frontend := func(tags []string, v string, age int) release {
		return release{tags: tags, platforms: one, build: frontendImage(v, hexID("frontend@"+v, 40), daysAgo(age))}
	}

	return []repository{
		{name: "library/alpine", releases: []release{
			{tags: []string{"3.19"}, platforms: one, build: alpineImage(alpine319, docker)},
			{tags: []string{"3.20"}, platforms: one, build: alpineImage(alpine320, docker)},
			{tags: []string{"3.21", "latest"}, platforms: []v1.Platform{amd64, arm64, armv7}, format: oci, build: alpineImage(alpine321, oci)},
		}},
		{name: "library/nginx", releases: []release{
			{tags: []string{"1.25"}, platforms: one, build: nginxImage("1.25.4", alpine319, daysAgo(640))},
			{tags: []string{"1.26"}, platforms: one, build: nginxImage("1.26.2", alpine320, daysAgo(520))},
			{tags: []string{"1.27-alpine", "latest"}, platforms: []v1.Platform{amd64, arm64}, format: docker, build: nginxImage("1.27.3", alpine321, daysAgo(400))},
		}},
		{name: "library/postgres", releases: []release{
			{tags: []string{"15"}, platforms: one, build: postgresImage("15.8", daysAgo(610))},
			{tags: []string{"16", "16.4"}, platforms: one, build: postgresImage("16.4", daysAgo(480))},
			{tags: []string{"17", "17.2", "latest"}, platforms: one, build: postgresImage("17.2", daysAgo(350))},
		}},
		{name: "library/redis", releases: []release{
			{tags: []string{"7.2"}, platforms: one, build: redisImage("7.2.6", func(v1.Platform) []step { return debianBase(daysAgo(720)) }, daysAgo(590))},
			{tags: []string{"7.4-alpine"}, platforms: one, build: redisImage("7.4.1", func(p v1.Platform) []step { return alpineBase(alpine320, p) }, daysAgo(380))},
			{tags: []string{"7.4", "latest"}, platforms: one, build: redisImage("7.4.1", func(v1.Platform) []step { return debianBase(daysAgo(720)) }, daysAgo(370))},
		}},
		{name: "team/api/server", releases: append(
			serviceReleases(apiServer, one, version{"v1.0.0", 240}, version{"v1.1.0", 150}, version{"v1.2.0", 45}),
			release{tags: []string{"main-" + mainRev[:7]}, platforms: one, build: apiServer.image("v1.3.0-dev", mainRev, daysAgo(3))},
		)},
		{name: "team/api/worker", releases: serviceReleases(worker, one, version{"v1.1.0", 148}, version{"v1.2.0", 44})},
		{name: "team/web/frontend", releases: []release{
			frontend([]string{"2025.06.1"}, "2025.06.1", 270),
			frontend([]string{"2025.11.0", "latest"}, "2025.11.0", 110),
			frontend([]string{"pr-412"}, "2025.12.0-pr.412", 6),
		}},
		{name: "tools/ci/runner", releases: []release{
			{tags: []string{"2.317.0"}, platforms: one, build: runnerImage("2.317.0", 700<<10, daysAgo(300))},
			{tags: []string{"2.319.1", "latest"}, platforms: one, build: runnerImage("2.319.1", 1150<<10, daysAgo(200))},
		}},
		{name: "staging/payments/ledger", releases: []release{
			ledgerRelease([]string{"0.9.0-rc.1"}, 60),
			ledgerRelease([]string{"0.9.0", "staging"}, 21),
		}},
	}
}
