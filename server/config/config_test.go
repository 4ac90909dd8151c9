package config_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/config"
)

// env returns a getenv over a fixed map, so tests never read the real environment.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// load runs config.Load and fails the test on an error.
func load(t *testing.T, args []string, vars map[string]string) config.Config {
	t.Helper()
	var out bytes.Buffer
	c, err := config.Load(args, env(vars), &out)
	if err != nil {
		t.Fatalf("Load(%q, %v): %v\noutput:\n%s", args, vars, err, out.String())
	}
	return c
}

func TestDefaults(t *testing.T) {
	var out bytes.Buffer
	got, err := config.Load(nil, env(nil), &out)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := config.Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load with nothing set:\n got %+v\nwant Default() %+v", got, want)
	}
	checks := []struct {
		field string
		got   any
		want  any
	}{
		{"Addr", got.Addr, "127.0.0.1:8080"},
		{"Registry", got.Registry, ""},
		{"DataDir", got.DataDir, "data"},
		{"EmbeddedAddr", got.EmbeddedAddr, "127.0.0.1:5000"},
		{"NoDemo", got.NoDemo, false},
		{"CORSOrigins", len(got.CORSOrigins), 0},
		{"UpstreamTimeout", got.UpstreamTimeout, 30 * time.Second},
		{"WebDir", got.WebDir, ""},
		{"ReadOnly", got.ReadOnly, false},
		{"Concurrency", got.Concurrency, 16},
		{"PublicHost", got.PublicHost, ""},
		{"LogLevel", got.LogLevel, "info"},
		{"LogFormat", got.LogFormat, "text"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("default %s = %v, want %v", c.field, c.got, c.want)
		}
	}
	if !got.Embedded() {
		t.Error("Embedded() = false with no --registry, want true")
	}
	if out.Len() != 0 {
		t.Errorf("Load wrote %q to out without --help", out.String())
	}
}

func TestEnvironment(t *testing.T) {
	got := load(t, nil, map[string]string{
		"BERTH_ADDR":             ":9000",
		"BERTH_REGISTRY":         "https://registry.example.com",
		"BERTH_DATA_DIR":         "/var/lib/berth",
		"BERTH_EMBEDDED_ADDR":    "off",
		"BERTH_NO_DEMO":          "1",
		"BERTH_READ_ONLY":        "true",
		"BERTH_CORS_ORIGINS":     "https://a.example, https://b.example",
		"BERTH_UPSTREAM_TIMEOUT": "5s",
		"BERTH_WEB_DIR":          "/srv/web",
		"BERTH_CONCURRENCY":      "4",
		"BERTH_PUBLIC_HOST":      "pull.example.com",
		"BERTH_LOG_LEVEL":        "debug",
		"BERTH_LOG_FORMAT":       "json",
	})
	// Everything not set by a variable keeps its default.
	want := config.Default()
	want.Addr = ":9000"
	want.Registry = "https://registry.example.com"
	want.DataDir = "/var/lib/berth"
	want.EmbeddedAddr = "off"
	want.NoDemo = true
	want.CORSOrigins = []string{"https://a.example", "https://b.example"}
	want.UpstreamTimeout = 5 * time.Second
	want.WebDir = "/srv/web"
	want.ReadOnly = true
	want.Concurrency = 4
	want.PublicHost = "pull.example.com"
	want.LogLevel = "debug"
	want.LogFormat = "json"
	want.AnonymousWrites = false // an external registry: writes need a signed-in user
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load from environment:\n got %+v\nwant %+v", got, want)
	}
	if got.Embedded() {
		t.Error("Embedded() = true with BERTH_REGISTRY set, want false")
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	vars := map[string]string{
		"BERTH_ADDR":             ":9000",
		"BERTH_REGISTRY":         "https://env.example.com",
		"BERTH_READ_ONLY":        "true",
		"BERTH_UPSTREAM_TIMEOUT": "5s",
		"BERTH_CONCURRENCY":      "4",
		"BERTH_LOG_LEVEL":        "debug",
	}
	tests := []struct {
		name  string
		args  []string
		check func(config.Config) bool
	}{
		{"addr", []string{"--addr", ":7000"}, func(c config.Config) bool { return c.Addr == ":7000" }},
		{"registry", []string{"--registry=http://flag.example.com:5000"}, func(c config.Config) bool { return c.Registry == "http://flag.example.com:5000" }},
		{"bool false", []string{"--read-only=false"}, func(c config.Config) bool { return !c.ReadOnly }},
		{"duration", []string{"-upstream-timeout", "2m"}, func(c config.Config) bool { return c.UpstreamTimeout == 2*time.Minute }},
		{"integer", []string{"--concurrency", "32"}, func(c config.Config) bool { return c.Concurrency == 32 }},
		{"log level", []string{"--log-level", "warn"}, func(c config.Config) bool { return c.LogLevel == "warn" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := load(t, tt.args, vars)
			if !tt.check(got) {
				t.Errorf("Load(%q) = %+v: flag did not win over the environment", tt.args, got)
			}
		})
	}

	// A flag changes only its own field; the other variables still apply.
	got := load(t, []string{"--addr", ":7000"}, vars)
	if got.Registry != "https://env.example.com" || !got.ReadOnly || got.UpstreamTimeout != 5*time.Second || got.Concurrency != 4 {
		t.Errorf("Load(--addr) = %+v: lost values from the environment", got)
	}
}

func TestCORSOrigins(t *testing.T) {
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want []string
	}{
		{
			name: "repeated flag",
			args: []string{"--cors-origin", "https://a.example", "--cors-origin=http://localhost:3000"},
			want: []string{"https://a.example", "http://localhost:3000"},
		},
		{
			name: "trailing slash trimmed",
			args: []string{"--cors-origin", "https://a.example/"},
			want: []string{"https://a.example"},
		},
		{
			name: "wildcard",
			args: []string{"--cors-origin", "*"},
			want: []string{"*"},
		},
		{
			name: "environment, blanks skipped",
			vars: map[string]string{"BERTH_CORS_ORIGINS": " https://a.example ,, https://b.example:8443 "},
			want: []string{"https://a.example", "https://b.example:8443"},
		},
		{
			name: "none",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := load(t, tt.args, tt.vars)
			if !reflect.DeepEqual(got.CORSOrigins, tt.want) {
				t.Errorf("CORSOrigins = %q, want %q", got.CORSOrigins, tt.want)
			}
		})
	}
}

func TestRegistryURLNormalised(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"https://registry.example.com", "https://registry.example.com"},
		{"https://registry.example.com/", "https://registry.example.com"},
		{"https://registry.example.com/v2/", "https://registry.example.com"},
		{"http://127.0.0.1:5000/some/path", "http://127.0.0.1:5000"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := load(t, []string{"--registry", tt.in}, nil)
			if got.Registry != tt.want {
				t.Errorf("Registry = %q, want %q", got.Registry, tt.want)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name string
		args []string
		vars map[string]string
		// wantErr are substrings the error must contain, so the user knows what to fix.
		wantErr []string
		// notErr must not appear in the error.
		notErr string
	}{
		{name: "registry without scheme", args: []string{"--registry", "registry.example.com"}, wantErr: []string{"--registry", "registry.example.com", "https://"}},
		{name: "registry other scheme", args: []string{"--registry", "ftp://registry.example.com"}, wantErr: []string{"--registry", "ftp://registry.example.com"}},
		{name: "registry without host", args: []string{"--registry", "https://"}, wantErr: []string{"--registry"}},
		{name: "registry with credentials", args: []string{"--registry", "https://user:s3cret@registry.example.com"}, wantErr: []string{"--registry", "credentials"}, notErr: "s3cret"},
		{name: "registry with credentials from env", vars: map[string]string{"BERTH_REGISTRY": "https://user:s3cret@registry.example.com"}, wantErr: []string{"credentials"}, notErr: "s3cret"},
		{name: "bad duration in env", vars: map[string]string{"BERTH_UPSTREAM_TIMEOUT": "5 parsecs"}, wantErr: []string{"BERTH_UPSTREAM_TIMEOUT", "5 parsecs", "duration"}},
		{name: "bad duration flag", args: []string{"--upstream-timeout", "soon"}, wantErr: []string{"upstream-timeout"}},
		{name: "zero duration", args: []string{"--upstream-timeout", "0s"}, wantErr: []string{"--upstream-timeout", "positive"}},
		{name: "bad boolean in env", vars: map[string]string{"BERTH_READ_ONLY": "maybe"}, wantErr: []string{"BERTH_READ_ONLY", "maybe", "boolean"}},
		{name: "bad number in env", vars: map[string]string{"BERTH_CONCURRENCY": "many"}, wantErr: []string{"BERTH_CONCURRENCY", "many", "number"}},
		{name: "zero concurrency", args: []string{"--concurrency", "0"}, wantErr: []string{"--concurrency", "at least 1"}},
		{name: "bad log level", args: []string{"--log-level", "verbose"}, wantErr: []string{"--log-level", "verbose", "debug, info, warn or error"}},
		{name: "bad log level in env", vars: map[string]string{"BERTH_LOG_LEVEL": "trace"}, wantErr: []string{"--log-level", "trace"}},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantErr: []string{"--log-format", "xml"}},
		{name: "origin with path", args: []string{"--cors-origin", "https://ui.example.com/app"}, wantErr: []string{"--cors-origin", "https://ui.example.com/app", "origin"}},
		{name: "origin with path in env", vars: map[string]string{"BERTH_CORS_ORIGINS": "https://a.example, https://b.example/app"}, wantErr: []string{"--cors-origin", "https://b.example/app"}},
		{name: "origin without scheme", args: []string{"--cors-origin", "ui.example.com"}, wantErr: []string{"--cors-origin", "ui.example.com"}},
		{name: "unknown flag", args: []string{"--colour"}, wantErr: []string{"colour"}},
		{name: "positional argument", args: []string{"serve"}, wantErr: []string{`"serve"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := config.Load(tt.args, env(tt.vars), &out)
			if err == nil {
				t.Fatalf("Load(%q, %v) succeeded, want an error", tt.args, tt.vars)
			}
			if errors.Is(err, config.ErrHelp) {
				t.Fatalf("Load(%q, %v) = ErrHelp, want a configuration error", tt.args, tt.vars)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if tt.notErr != "" && strings.Contains(err.Error(), tt.notErr) {
				t.Errorf("error %q leaks %q", err, tt.notErr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		t.Run(arg, func(t *testing.T) {
			var out bytes.Buffer
			_, err := config.Load([]string{arg}, env(nil), &out)
			if !errors.Is(err, config.ErrHelp) {
				t.Fatalf("Load(%s) error = %v, want ErrHelp", arg, err)
			}
			usage := out.String()
			flags := map[string]string{
				"addr":             "BERTH_ADDR",
				"registry":         "BERTH_REGISTRY",
				"data-dir":         "BERTH_DATA_DIR",
				"embedded-addr":    "BERTH_EMBEDDED_ADDR",
				"no-demo":          "BERTH_NO_DEMO",
				"cors-origin":      "BERTH_CORS_ORIGINS",
				"upstream-timeout": "BERTH_UPSTREAM_TIMEOUT",
				"web-dir":          "BERTH_WEB_DIR",
				"read-only":        "BERTH_READ_ONLY",
				"concurrency":      "BERTH_CONCURRENCY",
				"public-host":      "BERTH_PUBLIC_HOST",
				"log-level":        "BERTH_LOG_LEVEL",
				"log-format":       "BERTH_LOG_FORMAT",
			}
			for flag, envVar := range flags {
				line := "--" + flag + "  [" + envVar + "]"
				if !strings.Contains(usage, line) {
					t.Errorf("usage lacks %q", line)
				}
			}
			// Every flag listed, including ones added later, names its own variable.
			listed := 0
			for _, line := range strings.Split(usage, "\n") {
				if !strings.HasPrefix(line, "  --") {
					continue
				}
				listed++
				flag, rest, _ := strings.Cut(strings.TrimPrefix(line, "  --"), "  ")
				envVar := "BERTH_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
				if flag == "cors-origin" {
					envVar = "BERTH_CORS_ORIGINS"
				}
				if !strings.HasPrefix(rest, "["+envVar+"]") {
					t.Errorf("usage line %q does not name %s", line, envVar)
				}
			}
			if listed < len(flags) {
				t.Errorf("usage lists %d flags, want at least %d:\n%s", listed, len(flags), usage)
			}
			if !strings.Contains(usage, "(default 127.0.0.1:8080)") {
				t.Errorf("usage does not show the default address:\n%s", usage)
			}
		})
	}
}

// TestOIDCFlags: OpenID Connect needs access control, the client, and a callback URL; the
// callback defaults to --public-url's, the groups claim to "groups".
func TestOIDCFlags(t *testing.T) {
	base := []string{"--access-control", "--registry", "https://r.example", "--public-url", "https://berth.example"}
	oidc := []string{"--oidc-issuer", "https://login.example", "--oidc-client-id", "berth", "--oidc-client-secret-file", "/run/secret"}
	for _, tt := range []struct {
		name string
		args []string
		err  string
	}{
		{"complete", append(append([]string{}, base...), oidc...), ""},
		{"without access control", append([]string{"--registry", "https://r.example", "--public-url", "https://berth.example"}, oidc...), "needs --access-control"},
		{"without a secret", append(append([]string{}, base...), "--oidc-issuer", "https://login.example", "--oidc-client-id", "berth"), "--oidc-client-secret-file"},
		{"client without issuer", append(append([]string{}, base...), "--oidc-client-id", "berth"), "need --oidc-issuer"},
		{"bad issuer", append(append([]string{}, base...), "--oidc-issuer", "login.example", "--oidc-client-id", "b", "--oidc-client-secret-file", "/s"), "--oidc-issuer"},
		{"bad team map", append(append(append([]string{}, base...), oidc...), "--oidc-team-map", "admins"), "--oidc-team-map"},
		{"no callback", append([]string{"--access-control", "--registry", "https://r.example", "--token-realm", "https://berth.example/auth/token"}, oidc...), "--oidc-redirect-url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			c, err := config.Load(tt.args, env(nil), &out)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.OIDCCallback() != "https://berth.example/auth/oidc/callback" || c.OIDCGroupsClaim != "groups" {
					t.Fatalf("callback %q, groups claim %q", c.OIDCCallback(), c.OIDCGroupsClaim)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one naming %s", err, tt.err)
			}
		})
	}
}
