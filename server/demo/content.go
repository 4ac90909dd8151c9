package demo

import (
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// reference is "now" for the demo: every date is an offset from it, never from time.Now, so
// the content (and every digest) is identical on each run.
var reference = time.Date(2026, time.March, 2, 9, 30, 0, 0, time.UTC)

func daysAgo(n int) time.Time { return reference.AddDate(0, 0, -n) }

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
	armv7 = v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
)

// release is one pushed artifact and every tag that points at it. More than one platform
// makes it an index.
type release struct {
	tags      []string
	platforms []v1.Platform
	format    format
	build     func(p v1.Platform) imageSpec
}

// repository is one demo repository and its releases, oldest first.
type repository struct {
	name     string
	releases []release
}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// alpineArch is how Alpine names the platform in file names and apk's arch file.
func alpineArch(p v1.Platform) string {
	switch p.Architecture {
	case "arm64":
		return "aarch64"
	case "arm":
		return "armv7"
	default:
		return "x86_64"
	}
}

type alpineVersion struct {
	version string // full, e.g. 3.21.3
	built   time.Time
}

var (
	alpine319 = alpineVersion{"3.19.1", daysAgo(700)}
	alpine320 = alpineVersion{"3.20.3", daysAgo(560)}
	alpine321 = alpineVersion{"3.21.3", daysAgo(430)}
)

func (a alpineVersion) branch() string { return a.version[:strings.LastIndex(a.version, ".")] }

// alpineBase is the rootfs layer of alpine:<version> for p, plus its CMD. Images built on
// the same base share its layer digest, as they do on Docker Hub.
func alpineBase(a alpineVersion, p v1.Platform) []step {
	arch := alpineArch(p)
	key := "alpine-" + a.version + "-" + arch
	musl := "ld-musl-" + arch + ".so.1"
	if p.Architecture == "arm" {
		musl = "ld-musl-armhf.so.1"
	}
	return []step{
		{
			createdBy: fmt.Sprintf("/bin/sh -c #(nop) ADD file:%s in / ", hexID(key, 64)),
			at:        a.built,
			files: []file{
				text("/etc/alpine-release", a.version+"\n"),
				text("/etc/os-release", fmt.Sprintf(`NAME="Alpine Linux"
ID=alpine
VERSION_ID=%s
PRETTY_NAME="Alpine Linux v%s"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
`, a.version, a.branch())),
				text("/etc/apk/arch", arch+"\n"),
				text("/etc/apk/repositories", fmt.Sprintf(
					"https://dl-cdn.alpinelinux.org/alpine/v%[1]s/main\nhttps://dl-cdn.alpinelinux.org/alpine/v%[1]s/community\n", a.branch())),
				text("/etc/apk/world", "alpine-baselayout\nalpine-keys\napk-tools\nbusybox\nca-certificates-bundle\nlibc-utils\n"),
				text("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"),
				text("/etc/group", "root:x:0:root\nnobody:x:65534:\n"),
				text("/etc/hostname", "localhost\n"),
				binary("/bin/busybox", key, 150<<10),
				binary("/lib/"+musl, key, 40<<10),
				binary("/sbin/apk", key, 24<<10),
			},
		},
		{createdBy: `/bin/sh -c #(nop)  CMD ["/bin/sh"]`, at: a.built},
	}
}

// debianBase is the rootfs of debian:bookworm-slim (amd64 only in the demo).
func debianBase(built time.Time) []step {
	key := "debian-bookworm-" + built.Format("20060102")
	return []step{
		{
			createdBy: fmt.Sprintf("/bin/sh -c #(nop) ADD file:%s in / ", hexID(key, 64)),
			at:        built,
			files: []file{
				text("/etc/debian_version", "12.7\n"),
				text("/etc/os-release", `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`),
				text("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
				binary("/usr/bin/bash", key, 120<<10),
				binary("/usr/lib/x86_64-linux-gnu/libc.so.6", key, 200<<10),
				binary("/usr/bin/dpkg", key, 60<<10),
				text("/usr/share/doc/README", string(prose(key+"-docs", 96<<10))),
			},
		},
		{createdBy: `/bin/sh -c #(nop)  CMD ["bash"]`, at: built},
	}
}

// labels are the OCI annotation-style labels a CI pipeline stamps on its images.
func labels(title, version, source, revision string, created time.Time, extra ...string) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":    title,
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.source":   source,
		"org.opencontainers.image.revision": revision,
		"org.opencontainers.image.created":  created.Format(time.RFC3339),
	}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

func ports(ps ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(ps))
	for _, p := range ps {
		m[p] = struct{}{}
	}
	return m
}

func alpineImage(a alpineVersion, f format) func(v1.Platform) imageSpec {
	return func(p v1.Platform) imageSpec {
		return imageSpec{
			platform: p,
			format:   f,
			created:  a.built,
			steps:    alpineBase(a, p),
			config: v1.Config{
				Env: []string{defaultPath},
				Cmd: []string{"/bin/sh"},
				Labels: labels("alpine", a.version, "https://gitlab.alpinelinux.org/alpine/aports",
					hexID("aports-"+a.version, 40), a.built),
			},
		}
	}
}

func nginxImage(version string, base alpineVersion, created time.Time) func(v1.Platform) imageSpec {
	return func(p v1.Platform) imageSpec {
		key := "nginx-" + version + "-" + alpineArch(p)
		steps := append(alpineBase(base, p),
			step{createdBy: `/bin/sh -c #(nop)  LABEL maintainer=NGINX Docker Maintainers <docker-maint@nginx.com>`},
			step{createdBy: "/bin/sh -c #(nop)  ENV NGINX_VERSION=" + version},
			step{
				createdBy: "/bin/sh -c set -x && addgroup -g 101 -S nginx && adduser -S -D -H -u 101 -G nginx nginx && apk add --no-cache nginx=" + version + "-r0",
				files: []file{
					binary("/usr/sbin/nginx", key, 190<<10),
					text("/etc/nginx/nginx.conf", nginxConf),
					text("/etc/nginx/mime.types", string(prose(key+"-mime", 5<<10))),
					text("/etc/nginx/conf.d/default.conf", "server {\n    listen 80;\n    location / {\n        root /usr/share/nginx/html;\n        index index.html;\n    }\n}\n"),
					text("/usr/share/nginx/html/index.html", "<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n<body><h1>Welcome to nginx!</h1></body></html>\n"),
				},
			},
			step{
				createdBy: "/bin/sh -c #(nop) COPY file:" + hexID(key+"-entry", 64) + " in / ",
				files:     []file{script("/docker-entrypoint.sh", nginxEntrypoint)},
			},
			step{createdBy: `/bin/sh -c #(nop)  ENTRYPOINT ["/docker-entrypoint.sh"]`},
			step{createdBy: "/bin/sh -c #(nop)  EXPOSE 80"},
			step{createdBy: "/bin/sh -c #(nop)  STOPSIGNAL SIGQUIT"},
			step{createdBy: `/bin/sh -c #(nop)  CMD ["nginx" "-g" "daemon off;"]`},
		)
		return imageSpec{
			platform: p,
			format:   docker,
			created:  created,
			author:   "NGINX Docker Maintainers <docker-maint@nginx.com>",
			steps:    steps,
			config: v1.Config{
				Env:          []string{defaultPath, "NGINX_VERSION=" + version},
				Entrypoint:   []string{"/docker-entrypoint.sh"},
				Cmd:          []string{"nginx", "-g", "daemon off;"},
				ExposedPorts: ports("80/tcp"),
				StopSignal:   "SIGQUIT",
				Labels: labels("nginx", version, "https://github.com/nginxinc/docker-nginx",
					hexID("nginx-"+version, 40), created, "maintainer", "NGINX Docker Maintainers <docker-maint@nginx.com>"),
			},
		}
	}
}

const nginxConf = `user  nginx;
worker_processes  auto;
error_log  /var/log/nginx/error.log notice;
pid        /var/run/nginx.pid;

events {
    worker_connections  1024;
}

http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;
    sendfile        on;
    keepalive_timeout  65;
    include /etc/nginx/conf.d/*.conf;
}
`

const nginxEntrypoint = `#!/bin/sh
set -e
if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
    echo "$0: Configuration complete; ready for start up"
fi
exec "$@"
`

func postgresImage(version string, created time.Time) func(v1.Platform) imageSpec {
	return func(p v1.Platform) imageSpec {
		major := strings.SplitN(version, ".", 2)[0]
		key := "postgres-" + version
		steps := append(debianBase(daysAgo(720)),
			step{
				createdBy: "/bin/sh -c set -eux; groupadd -r postgres --gid=999; useradd -r -g postgres --uid=999 --home-dir=/var/lib/postgresql --shell=/bin/bash postgres",
				files: []file{
					text("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\npostgres:x:999:999::/var/lib/postgresql:/bin/bash\n"),
					text("/etc/group", "root:x:0:\npostgres:x:999:\n"),
				},
			},
			step{createdBy: "/bin/sh -c #(nop)  ENV PG_MAJOR=" + major},
			step{createdBy: "/bin/sh -c #(nop)  ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/" + major + "/bin"},
			step{createdBy: "/bin/sh -c #(nop)  ENV PG_VERSION=" + version + "-1.pgdg120+1"},
			step{
				createdBy: "/bin/sh -c set -ex; apt-get update; apt-get install -y --no-install-recommends postgresql-" + major + "=" + version + "-1.pgdg120+1; rm -rf /var/lib/apt/lists/*",
				files: []file{
					binary("/usr/lib/postgresql/"+major+"/bin/postgres", key, 260<<10),
					binary("/usr/lib/postgresql/"+major+"/bin/psql", key, 60<<10),
					text("/usr/share/postgresql/"+major+"/postgresql.conf.sample", string(prose(key+"-conf", 30<<10))),
					text("/usr/share/postgresql/"+major+"/information_schema.sql", string(prose(key+"-sql", 120<<10))),
				},
			},
			step{createdBy: "/bin/sh -c #(nop)  ENV PGDATA=/var/lib/postgresql/data"},
			step{createdBy: `/bin/sh -c #(nop)  VOLUME [/var/lib/postgresql/data]`},
			step{
				createdBy: "/bin/sh -c #(nop) COPY file:" + hexID(key+"-entry", 64) + " in /usr/local/bin/ ",
				files:     []file{script("/usr/local/bin/docker-entrypoint.sh", "#!/usr/bin/env bash\nset -Eeo pipefail\n# initdb on first start, then exec postgres\nexec \"$@\"\n")},
			},
			step{createdBy: `/bin/sh -c #(nop)  ENTRYPOINT ["docker-entrypoint.sh"]`},
			step{createdBy: "/bin/sh -c #(nop)  STOPSIGNAL SIGINT"},
			step{createdBy: "/bin/sh -c #(nop)  EXPOSE 5432"},
			step{createdBy: `/bin/sh -c #(nop)  CMD ["postgres"]`},
		)
		return imageSpec{
			platform: p,
			format:   docker,
			created:  created,
			steps:    steps,
			config: v1.Config{
				Env: []string{
					"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/" + major + "/bin",
					"PG_MAJOR=" + major, "PG_VERSION=" + version + "-1.pgdg120+1", "PGDATA=/var/lib/postgresql/data",
				},
				Entrypoint:   []string{"docker-entrypoint.sh"},
				Cmd:          []string{"postgres"},
				ExposedPorts: ports("5432/tcp"),
				Volumes:      ports("/var/lib/postgresql/data"),
				StopSignal:   "SIGINT",
				Labels: labels("postgres", version, "https://github.com/docker-library/postgres",
					hexID(key, 40), created, "maintainer", "PostgreSQL Docker Maintainers"),
			},
		}
	}
}

func redisImage(version string, base func(v1.Platform) []step, created time.Time) func(v1.Platform) imageSpec {
	return func(p v1.Platform) imageSpec {
		bs := base(p)
		key := "redis-" + version + "-" + hexID(bs[0].createdBy, 8)
		steps := append(bs,
			step{
				createdBy: "/bin/sh -c set -eux; groupadd -r -g 999 redis; useradd -r -g redis -u 999 redis",
				files:     []file{text("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nredis:x:999:999::/home/redis:/sbin/nologin\n")},
			},
			step{createdBy: "/bin/sh -c #(nop)  ENV REDIS_VERSION=" + version},
			step{
				createdBy: "/bin/sh -c set -eux; make -C /usr/src/redis -j \"$(nproc)\" all; make -C /usr/src/redis install; redis-server --version",
				files: []file{
					binary("/usr/local/bin/redis-server", key, 200<<10),
					binary("/usr/local/bin/redis-cli", key, 60<<10),
				},
			},
			step{createdBy: "/bin/sh -c #(nop)  VOLUME [/data]"},
			step{createdBy: "/bin/sh -c #(nop) WORKDIR /data"},
			step{
				createdBy: "/bin/sh -c #(nop) COPY file:" + hexID(key+"-entry", 64) + " in /usr/local/bin/ ",
				files:     []file{script("/usr/local/bin/docker-entrypoint.sh", "#!/bin/sh\nset -e\n# drop privileges to redis when started as root\nexec \"$@\"\n")},
			},
			step{createdBy: `/bin/sh -c #(nop)  ENTRYPOINT ["docker-entrypoint.sh"]`},
			step{createdBy: "/bin/sh -c #(nop)  EXPOSE 6379"},
			step{createdBy: `/bin/sh -c #(nop)  CMD ["redis-server"]`},
		)
		return imageSpec{
			platform: p,
			format:   oci,
			created:  created,
			steps:    steps,
			config: v1.Config{
				Env:          []string{defaultPath, "REDIS_VERSION=" + version},
				Entrypoint:   []string{"docker-entrypoint.sh"},
				Cmd:          []string{"redis-server"},
				WorkingDir:   "/data",
				ExposedPorts: ports("6379/tcp"),
				Volumes:      ports("/data"),
				Labels: labels("redis", version, "https://github.com/docker-library/redis",
					hexID(key, 40), created, "maintainer", "Redis Docker Maintainers"),
			},
		}
	}
}

// service describes one of "our" applications: a Go binary on Alpine, as an internal team
// would ship it.
type service struct {
	repo    string // e.g. team/api/server
	binary  string
	size    int // binary size in bytes, before gzip
	ports   []string
	volumes []string
	cmd     []string
	env     string // APP_ENV value
	format  format
	extra   []file // added in their own COPY layer
}

func (s service) image(version, revision string, created time.Time) func(v1.Platform) imageSpec {
	return func(p v1.Platform) imageSpec {
		key := s.repo + "@" + revision
		bin := "/usr/local/bin/" + s.binary
		steps := append(alpineBase(alpine321, p),
			step{createdBy: "RUN /bin/sh -c apk add --no-cache ca-certificates tzdata # buildkit",
				at: created.Add(-10 * time.Minute),
				files: []file{
					text("/etc/ssl/certs/ca-certificates.crt", string(prose("ca-bundle", 48<<10))),
					binary("/usr/share/zoneinfo/UTC", "tzdata", 1<<10),
					binary("/usr/share/zoneinfo/Europe/Berlin", "tzdata", 3<<10),
				},
			},
			step{createdBy: "ENV APP_ENV=" + s.env},
			step{createdBy: "COPY /out/" + s.binary + " " + bin + " # buildkit",
				files: []file{binary(bin, key, s.size+len(version)<<10)},
			},
		)
		if len(s.extra) > 0 {
			steps = append(steps, step{createdBy: "COPY config/ /app/ # buildkit", files: s.extra})
		}
		steps = append(steps,
			step{createdBy: "WORKDIR /app"},
			step{createdBy: "USER 65532:65532"},
		)
		if len(s.ports) > 0 {
			steps = append(steps, step{createdBy: "EXPOSE map[" + strings.Join(s.ports, ":{} ") + ":{}]"})
		}
		steps = append(steps,
			step{createdBy: `ENTRYPOINT ["` + bin + `"]`},
			step{createdBy: `CMD ["` + strings.Join(s.cmd, `" "`) + `"]`},
		)
		return imageSpec{
			platform: p,
			format:   s.format,
			created:  created,
			steps:    steps,
			config: v1.Config{
				Env:          []string{defaultPath, "APP_ENV=" + s.env, "GOMAXPROCS=2"},
				Entrypoint:   []string{bin},
				Cmd:          s.cmd,
				WorkingDir:   "/app",
				User:         "65532:65532",
				ExposedPorts: ports(s.ports...),
				Volumes:      ports(s.volumes...),
				Labels: labels(s.binary, version, "https://git.example.com/"+s.repo, revision, created,
					"maintainer", "platform-team@example.com",
					"org.opencontainers.image.vendor", "Example Corp",
					"org.opencontainers.image.licenses", "Proprietary"),
			},
		}
	}
}

func serviceConfig(env string) []file {
	return []file{text("/app/config.yaml", fmt.Sprintf(`env: %s
http:
  addr: ":8080"
  read_timeout: 15s
metrics:
  addr: ":9090"
log:
  level: info
  format: json
`, env))}
}

// version is one release of a service and its age in days.
type version struct {
	name string
	age  int
}

// serviceReleases builds one release per version, oldest first; the newest also gets latest.
func serviceReleases(s service, platforms []v1.Platform, versions ...version) []release {
	rs := make([]release, 0, len(versions))
	for i, v := range versions {
		tags := []string{v.name}
		if i == len(versions)-1 {
			tags = append(tags, "latest")
		}
		rs = append(rs, release{tags: tags, platforms: platforms, format: s.format,
			build: s.image(v.name, hexID(s.repo+"@"+v.name, 40), daysAgo(v.age))})
	}
	return rs
}

// frontendImage is a static single-page app served by the same nginx build as library/nginx,
// so the two repositories share base layer digests like real images built FROM nginx do.
func frontendImage(version, revision string, created time.Time) func(v1.Platform) imageSpec {
	return func(p v1.Platform) imageSpec {
		s := nginxImage("1.27.3", alpine321, daysAgo(400))(p)
		for i := range s.steps {
			if s.steps[i].at.IsZero() {
				s.steps[i].at = s.created
			}
		}
		key := "frontend@" + revision
		s.steps = append(s.steps,
			step{createdBy: "COPY --from=build /src/dist /usr/share/nginx/html # buildkit", files: []file{
				text("/usr/share/nginx/html/index.html", `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Example Web</title><script type="module" src="/assets/app-`+revision[:8]+`.js"></script></head><body><div id="root"></div></body></html>`+"\n"),
				text("/usr/share/nginx/html/assets/app-"+revision[:8]+".js", string(prose(key+"-app", 260<<10))),
				text("/usr/share/nginx/html/assets/vendor-"+hexID(key+"-vendor", 8)+".js", string(prose("vendor-react-18", 300<<10))),
				{path: "/usr/share/nginx/html/assets/hero.webp", mode: 0o644, data: random("hero.webp", 90<<10)},
				{path: "/usr/share/nginx/html/favicon.ico", mode: 0o644, data: random("favicon.ico", 4<<10)},
			}},
			step{createdBy: "ENV APP_ENV=production"},
		)
		s.created = created
		s.format = oci
		s.author = ""
		s.config.Env = append(s.config.Env, "APP_ENV=production")
		s.config.Labels = labels("frontend", version, "https://git.example.com/team/web/frontend", revision, created,
			"maintainer", "web-team@example.com", "org.opencontainers.image.vendor", "Example Corp")
		return s
	}
}

// runnerImage is a CI runner: a fat Debian image with toolchains and the runner agent.
// agent is the size of the runner agent in bytes; later releases grew, as real ones do.
func runnerImage(version string, agent int, created time.Time) func(v1.Platform) imageSpec {
	return func(p v1.Platform) imageSpec {
		key := "runner-" + version
		steps := append(debianBase(daysAgo(720)),
			step{createdBy: "RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends git curl jq ca-certificates && rm -rf /var/lib/apt/lists/* # buildkit",
				// Served from the build cache since the first build, so every release shares it.
				at: daysAgo(330),
				files: []file{
					binary("/usr/bin/git", "git-2.39.5", 240<<10),
					binary("/usr/bin/curl", "curl-7.88.1", 40<<10),
					binary("/usr/bin/jq", "jq-1.6", 30<<10),
				},
			},
			step{createdBy: "RUN /bin/sh -c useradd -m -u 1001 runner # buildkit",
				files: []file{text("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nrunner:x:1001:1001::/home/runner:/bin/bash\n")},
			},
			step{createdBy: "ARG RUNNER_VERSION=" + version},
			step{createdBy: "ADD https://github.com/actions/runner/releases/download/v" + version + "/actions-runner-linux-x64-" + version + ".tar.gz /home/runner/ # buildkit",
				files: []file{
					binary("/home/runner/bin/Runner.Listener", key, agent*7/10),
					binary("/home/runner/bin/Runner.Worker", key, agent*3/10),
					script("/home/runner/run.sh", "#!/bin/bash\nset -e\n./config.sh --unattended --replace\nexec ./bin/Runner.Listener run\n"),
					script("/home/runner/config.sh", "#!/bin/bash\nexec ./bin/Runner.Listener configure \"$@\"\n"),
				},
			},
			step{createdBy: "USER runner"},
			step{createdBy: "WORKDIR /home/runner"},
			step{createdBy: "VOLUME [/home/runner/_work]"},
			step{createdBy: `ENTRYPOINT ["/home/runner/run.sh"]`},
		)
		return imageSpec{
			platform: p,
			format:   docker,
			created:  created,
			steps:    steps,
			config: v1.Config{
				Env:        []string{defaultPath, "RUNNER_VERSION=" + version, "RUNNER_ALLOW_RUNASROOT=0"},
				Entrypoint: []string{"/home/runner/run.sh"},
				WorkingDir: "/home/runner",
				User:       "runner",
				Volumes:    ports("/home/runner/_work"),
				Labels: labels("ci-runner", version, "https://git.example.com/tools/ci/runner", hexID(key, 40), created,
					"maintainer", "devex@example.com"),
			},
		}
	}
}
