package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v3/pkg/chart"
	"sigs.k8s.io/yaml"
)

// Chart repositories of the demo: a web app in several versions that depends on a cache
// chart, both with READMEs and values schemas.
const (
	webAppChartRepo = "charts/web-app"
	cacheChartRepo  = "charts/redis-cache"
)

func chartRepositories() []string { return []string{webAppChartRepo, cacheChartRepo} }

// demoChart is one chart version.
type demoChart struct {
	meta   chart.Metadata
	values string
	schema string
	readme string
	age    int // days
}

func demoCharts() map[string][]demoChart {
	cache := func(v string, age int) demoChart {
		return demoChart{
			meta: chart.Metadata{
				APIVersion: "v2", Name: "redis-cache", Version: v, AppVersion: "7.2." + v[len(v)-1:],
				Description: "An in-memory cache for the web app", Type: "application",
				Keywords: []string{"redis", "cache"}, Home: "https://example.com/charts/redis-cache",
				Maintainers: []*chart.Maintainer{{Name: "Platform Team", Email: "platform@example.com"}},
			},
			values: "architecture: standalone\nauth:\n  enabled: true\nmaster:\n  persistence:\n    size: 1Gi\n",
			schema: `{"$schema":"https://json-schema.org/draft-07/schema#","type":"object","properties":{"architecture":{"enum":["standalone","replication"]}}}`,
			readme: "# redis-cache\n\nA single Redis for caches. Persistence is on by default.\n\n```sh\nhelm install cache oci://REGISTRY/charts/redis-cache\n```\n",
			age:    age,
		}
	}
	web := func(v, app string, age int) demoChart {
		return demoChart{
			meta: chart.Metadata{
				APIVersion: "v2", Name: "web-app", Version: v, AppVersion: app,
				Description: "The team's web front end with an optional cache", Type: "application",
				Keywords: []string{"web", "frontend"}, Home: "https://example.com/charts/web-app",
				Sources:     []string{"https://example.com/team/web"},
				Maintainers: []*chart.Maintainer{{Name: "Web Team", Email: "web@example.com", URL: "https://example.com/web"}},
				KubeVersion: ">=1.27.0-0",
				Dependencies: []*chart.Dependency{{
					Name: "redis-cache", Version: "~7.2.0", Repository: "oci://REGISTRY/charts", Condition: "cache.enabled",
				}},
			},
			values: "replicaCount: 2\nimage:\n  repository: team/web/frontend\n  tag: \"" + app + "\"\nservice:\n  type: ClusterIP\n  port: 80\ncache:\n  enabled: true\n",
			schema: `{"$schema":"https://json-schema.org/draft-07/schema#","type":"object","required":["image"],"properties":{"replicaCount":{"type":"integer","minimum":1},"image":{"type":"object","properties":{"repository":{"type":"string"},"tag":{"type":"string"}}},"service":{"type":"object","properties":{"port":{"type":"integer"}}}}}`,
			readme: "# web-app\n\nDeploys the web front end behind a `ClusterIP` service.\n\n" +
				"## Parameters\n\n| key | default | meaning |\n|---|---|---|\n| `replicaCount` | `2` | pods |\n| `cache.enabled` | `true` | install redis-cache too |\n\n" +
				"## Upgrading\n\n- **1.10.0** moves the service port to `service.port`.\n- **2.0.0-beta.1** needs Kubernetes 1.27.\n",
			age: age,
		}
	}
	return map[string][]demoChart{
		cacheChartRepo:  {cache("7.2.0", 60), cache("7.2.4", 20)},
		webAppChartRepo: {web("1.0.0", "1.0.0", 90), web("1.2.0", "1.2.0", 50), web("1.10.0", "1.10.2", 15), web("2.0.0-beta.1", "2.0.0-beta.1", 3)},
	}
}

// seedCharts pushes the demo charts as `helm push` stores them: config = Chart.yaml as
// JSON, one chart layer, annotations from Chart.yaml.
func seedCharts(ctx context.Context, pusher *remote.Pusher, host string) error {
	all := demoCharts()
	for _, repo := range chartRepositories() {
		for _, c := range all[repo] {
			tgz, err := c.archive()
			if err != nil {
				return fmt.Errorf("demo: chart %s %s: %w", c.meta.Name, c.meta.Version, err)
			}
			cfg, err := json.Marshal(&c.meta)
			if err != nil {
				return err
			}
			ann := map[string]string{
				"org.opencontainers.image.created":     daysAgo(c.age).Format("2006-01-02T15:04:05Z"),
				"org.opencontainers.image.title":       c.meta.Name,
				"org.opencontainers.image.version":     c.meta.Version,
				"org.opencontainers.image.description": c.meta.Description,
				"org.opencontainers.image.url":         c.meta.Home,
			}
			if err := pushArtifact(ctx, pusher, registryRepo(host, repo), strings.ReplaceAll(c.meta.Version, "+", "_"), artifact{
				configType: helmConfig, config: cfg, layerType: helmChart, layer: tgz, annotations: ann,
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// archive is the chart's .tgz, laid out as `helm package` does, with fixed times.
func (c demoChart) archive() ([]byte, error) {
	chartYAML, err := yaml.Marshal(&c.meta)
	if err != nil {
		return nil, err
	}
	n := c.meta.Name + "/"
	files := map[string]string{
		n + "Chart.yaml":                string(chartYAML),
		n + "values.yaml":               c.values,
		n + "values.schema.json":        c.schema,
		n + "README.md":                 c.readme,
		n + "templates/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-" + c.meta.Name + "\nspec:\n  replicas: {{ .Values.replicaCount | default 1 }}\n",
		n + "templates/service.yaml":    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-" + c.meta.Name + "\n",
		n + "templates/_helpers.tpl":    "{{- define \"" + c.meta.Name + ".labels\" -}}\napp.kubernetes.io/name: " + c.meta.Name + "\n{{- end }}\n",
	}
	return tgz(files)
}
