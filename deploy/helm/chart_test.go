// Package helm_test checks the Helm chart in deploy/helm/berth with Helm's own Go SDK: it
// lints the chart and renders it as "helm template" does, then reads the rendered objects
// into Kubernetes' API types, strictly, and checks what they say.
package helm_test

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "berth"

// rendered is one release as "helm template" prints it, decoded.
type rendered struct {
	kinds       []string // in order
	deployment  *appsv1.Deployment
	service     *corev1.Service
	secret      *corev1.Secret
	pvc         *corev1.PersistentVolumeClaim
	ingress     *networkingv1.Ingress
	pdb         *policyv1.PodDisruptionBudget
	monitor     map[string]any // ServiceMonitor: a CRD, no Go type here
	deployYAML  string         // the Deployment exactly as rendered
	allManifest string
}

func valuesFile(t *testing.T, name string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValuesFile(chartDir + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return v.AsMap()
}

// render runs the chart like helm template --namespace registry berth deploy/helm/berth.
func render(t *testing.T, vals map[string]any) (*rendered, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{Log: t.Logf})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = "berth", "registry"
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return nil, err
	}
	r := &rendered{allManifest: rel.Manifest}
	for doc := range strings.SplitSeq(rel.Manifest, "\n---\n") {
		doc = strings.TrimSpace(strings.TrimPrefix(doc, "---"))
		if doc == "" {
			continue
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		r.kinds = append(r.kinds, meta.Kind)
		var into any
		switch meta.Kind {
		case "Deployment":
			r.deployment, r.deployYAML = &appsv1.Deployment{}, doc
			into = r.deployment
		case "Service":
			r.service = &corev1.Service{}
			into = r.service
		case "Secret":
			r.secret = &corev1.Secret{}
			into = r.secret
		case "PersistentVolumeClaim":
			r.pvc = &corev1.PersistentVolumeClaim{}
			into = r.pvc
		case "Ingress":
			r.ingress = &networkingv1.Ingress{}
			into = r.ingress
		case "PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			into = r.pdb
		case "ServiceAccount":
			into = &corev1.ServiceAccount{}
		case "ServiceMonitor":
			r.monitor = map[string]any{}
			into = &r.monitor
		default:
			t.Fatalf("unexpected kind %q rendered", meta.Kind)
		}
		// Strict: a misspelt or misplaced field fails here, as the API server would refuse it.
		if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
			t.Fatalf("%s does not match the Kubernetes API: %v\n%s", meta.Kind, err, doc)
		}
	}
	if r.deployment == nil {
		t.Fatalf("no Deployment rendered:\n%s", rel.Manifest)
	}
	return r, nil
}

func mustRender(t *testing.T, vals map[string]any) *rendered {
	t.Helper()
	r, err := render(t, vals)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rendered) container(t *testing.T) corev1.Container {
	t.Helper()
	cs := r.deployment.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%d containers, want 1", len(cs))
	}
	return cs[0]
}

func env(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

func kindsOf(r *rendered) string {
	k := slices.Clone(r.kinds)
	slices.Sort(k)
	return strings.Join(k, " ")
}

func TestLint(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
	}{
		{"defaults", nil},
		{"values-embedded.yaml", valuesFile(t, "values-embedded.yaml")},
		{"values-external.yaml", valuesFile(t, "values-external.yaml")},
		{"everything on", everythingOn()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict, lint.Namespace = true, "registry"
			res := lint.Run([]string{chartDir}, tc.vals)
			if res.TotalChartsLinted != 1 {
				t.Errorf("%d charts linted, want 1", res.TotalChartsLinted)
			}
			for _, m := range res.Messages {
				t.Log(m)
			}
			if len(res.Errors) > 0 {
				t.Errorf("helm lint --strict: %v", res.Errors)
			}
		})
	}
}

// Secret values used below; none may appear in the Deployment.
const (
	dbPassword    = "db-Pa55word-4711"
	redisPassword = "redis-Pa55word-0815"
	regPassword   = "registry-Pa55word-42"
	eventsToken   = "events-token-9f8e7d6c5b4a"
)

// everythingOn scales out with every secret given inline, ingress and a ServiceMonitor.
func everythingOn() map[string]any {
	return map[string]any{
		"replicaCount": 3,
		"image":        map[string]any{"repository": "registry.example.com/berth", "tag": "1.2.3"},
		"registry": map[string]any{
			"url": "https://registry.example.com", "publicHost": "registry.example.com",
			"username": "berth-reader", "password": regPassword,
		},
		"database":       map[string]any{"url": "postgres://berth:" + dbPassword + "@postgres:5432/berth"},
		"cache":          map[string]any{"url": "redis://:" + redisPassword + "@redis:6379/0"},
		"events":         map[string]any{"token": eventsToken},
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
		"ingress": map[string]any{
			"enabled": true, "className": "nginx",
			"hosts": []any{map[string]any{"host": "berth.example.com", "paths": []any{map[string]any{"path": "/", "pathType": "Prefix"}}}},
			"tls":   []any{map[string]any{"secretName": "berth-tls", "hosts": []any{"berth.example.com"}}},
		},
	}
}

func TestDefaults(t *testing.T) {
	r := mustRender(t, nil)
	if got, want := kindsOf(r), "Deployment Secret Service ServiceAccount"; got != want {
		t.Errorf("kinds %q, want %q", got, want)
	}
	c := r.container(t)
	if c.Image != "ghcr.io/berth-registry/berth:0.1.0" {
		t.Errorf("image %q, want the chart's appVersion as tag", c.Image)
	}
	if n := *r.deployment.Spec.Replicas; n != 1 {
		t.Errorf("replicas %d, want 1", n)
	}
	checkProbes(t, c)
	checkSecurity(t, r)
	e := env(c)
	for name, want := range map[string]string{
		"BERTH_ADDR": ":8080", "BERTH_DATA_DIR": "/data", "BERTH_EMBEDDED_ADDR": ":5000",
		"BERTH_EVENTS_SECRET_FILE": "/run/secrets/berth/events-secret", "BERTH_LOG_FORMAT": "json",
	} {
		if e[name].Value != want {
			t.Errorf("env %s=%q, want %q", name, e[name].Value, want)
		}
	}
	for _, name := range []string{"BERTH_REGISTRY", "BERTH_DATABASE", "BERTH_CACHE", "BERTH_REGISTRY_USERNAME"} {
		if _, ok := e[name]; ok {
			t.Errorf("env %s set without a value for it", name)
		}
	}
	// The generated events token sits in the chart's Secret, mounted as the events file.
	if tok := r.secret.Data["events-secret"]; len(tok) < 32 {
		t.Errorf("generated events token %q too short", tok)
	}
	checkMount(t, r, "/run/secrets/berth/events-secret", "berth", "events-secret")
	if p := r.service.Spec.Ports; len(p) != 2 || p[1].Name != "registry" || p[1].Port != 5000 {
		t.Errorf("service ports %+v, want http and the embedded registry's", p)
	}
}

func TestScaledOutWithSecretValues(t *testing.T) {
	r := mustRender(t, everythingOn())
	if got, want := kindsOf(r), "Deployment Ingress PodDisruptionBudget Secret Service ServiceAccount ServiceMonitor"; got != want {
		t.Errorf("kinds %q, want %q", got, want)
	}
	c := r.container(t)
	if c.Image != "registry.example.com/berth:1.2.3" {
		t.Errorf("image %q", c.Image)
	}
	if n := *r.deployment.Spec.Replicas; n != 3 {
		t.Errorf("replicas %d, want 3", n)
	}
	checkProbes(t, c)
	checkSecurity(t, r)

	// Every secret value is in the Secret …
	for key, want := range map[string]string{
		"database-url":      "postgres://berth:" + dbPassword + "@postgres:5432/berth",
		"cache-url":         "redis://:" + redisPassword + "@redis:6379/0",
		"registry-password": regPassword,
		"events-secret":     eventsToken,
	} {
		if got := string(r.secret.Data[key]); got != want {
			t.Errorf("secret %s = %q, want %q", key, got, want)
		}
	}
	// … and nowhere in the Deployment, neither plain nor base64: env refers to the Secret,
	// files are mounted from it.
	for _, s := range []string{dbPassword, redisPassword, regPassword, eventsToken} {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s))} {
			if strings.Contains(r.deployYAML, form) {
				t.Errorf("the Deployment contains the secret %q", form)
			}
		}
	}
	if len(c.Args) != 0 || len(c.Command) != 0 {
		t.Errorf("args %q, command %q: configuration goes through env", c.Args, c.Command)
	}
	e := env(c)
	for name, key := range map[string]string{"BERTH_DATABASE": "database-url", "BERTH_CACHE": "cache-url"} {
		ref := e[name].ValueFrom
		if e[name].Value != "" || ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "berth" || ref.SecretKeyRef.Key != key {
			t.Errorf("env %s = %+v, want a reference to secret berth key %s", name, e[name], key)
		}
	}
	for name, want := range map[string]string{
		"BERTH_REGISTRY": "https://registry.example.com", "BERTH_PUBLIC_HOST": "registry.example.com",
		"BERTH_REGISTRY_USERNAME": "berth-reader", "BERTH_REGISTRY_PASSWORD_FILE": "/run/secrets/berth/registry-password",
	} {
		if e[name].Value != want {
			t.Errorf("env %s=%q, want %q", name, e[name].Value, want)
		}
	}
	if _, ok := e["BERTH_EMBEDDED_ADDR"]; ok {
		t.Error("BERTH_EMBEDDED_ADDR set with an external registry")
	}
	checkMount(t, r, "/run/secrets/berth/events-secret", "berth", "events-secret")
	checkMount(t, r, "/run/secrets/berth/registry-password", "berth", "registry-password")

	if r.pdb.Spec.MinAvailable == nil || r.pdb.Spec.MinAvailable.IntValue() != 1 ||
		!maps.Equal(r.pdb.Spec.Selector.MatchLabels, r.deployment.Spec.Selector.MatchLabels) {
		t.Errorf("PDB %+v does not keep one Berth pod", r.pdb.Spec)
	}
	ep := fmt.Sprint(r.monitor["spec"])
	if !strings.Contains(ep, "path:/metrics") || !strings.Contains(ep, "port:http") || !strings.Contains(fmt.Sprint(r.monitor["metadata"]), "release:prometheus") {
		t.Errorf("ServiceMonitor %v, want /metrics on port http with the given labels", r.monitor)
	}
	rules := r.ingress.Spec.Rules
	if len(rules) != 1 || rules[0].Host != "berth.example.com" || rules[0].HTTP.Paths[0].Backend.Service.Name != "berth" ||
		len(r.ingress.Spec.TLS) != 1 || *r.ingress.Spec.IngressClassName != "nginx" {
		t.Errorf("ingress %+v", r.ingress.Spec)
	}
}

func TestExistingSecrets(t *testing.T) {
	r := mustRender(t, valuesFile(t, "values-external.yaml"))
	if r.secret != nil {
		t.Errorf("the chart created Secret %s although every secret comes from berth-secrets", r.secret.Name)
	}
	if n := *r.deployment.Spec.Replicas; n != 3 || r.pdb == nil {
		t.Errorf("replicas %d, PDB %v: want 3 with a PDB", n, r.pdb != nil)
	}
	e := env(r.container(t))
	for _, name := range []string{"BERTH_DATABASE", "BERTH_CACHE"} {
		if ref := e[name].ValueFrom; ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "berth-secrets" {
			t.Errorf("env %s = %+v, want a reference to berth-secrets", name, e[name])
		}
	}
	checkMount(t, r, "/run/secrets/berth/events-secret", "berth-secrets", "events-secret")
}

func TestToggles(t *testing.T) {
	vals := valuesFile(t, "values-external.yaml")
	vals["podDisruptionBudget"] = map[string]any{"enabled": false}
	vals["serviceMonitor"] = map[string]any{"enabled": true}
	r := mustRender(t, vals)
	if r.pdb != nil || r.monitor == nil {
		t.Errorf("PDB off and ServiceMonitor on: got PDB %v, ServiceMonitor %v", r.pdb != nil, r.monitor != nil)
	}
	vals["podDisruptionBudget"] = map[string]any{"enabled": true, "minAvailable": 2}
	vals["serviceMonitor"] = map[string]any{"enabled": false}
	r = mustRender(t, vals)
	if r.pdb == nil || r.pdb.Spec.MinAvailable.IntValue() != 2 || r.monitor != nil {
		t.Errorf("PDB on (minAvailable 2) and ServiceMonitor off: got PDB %+v, ServiceMonitor %v", r.pdb, r.monitor != nil)
	}
}

func TestEmbeddedRegistryOnPersistentVolume(t *testing.T) {
	r := mustRender(t, valuesFile(t, "values-embedded.yaml"))
	if got, want := kindsOf(r), "Deployment PersistentVolumeClaim Secret Service ServiceAccount"; got != want {
		t.Errorf("kinds %q, want %q", got, want)
	}
	d := r.deployment.Spec
	if *d.Replicas != 1 || d.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %d, strategy %q: want 1 and Recreate (one ReadWriteOnce volume)", *d.Replicas, d.Strategy.Type)
	}
	if q := r.pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "50Gi" || r.pvc.Spec.AccessModes[0] != corev1.ReadWriteOnce {
		t.Errorf("PVC %+v, want 50Gi ReadWriteOnce", r.pvc.Spec)
	}
	var claim string
	for _, v := range d.Template.Spec.Volumes {
		if v.Name == "data" && v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	if claim != r.pvc.Name {
		t.Errorf("data volume claims %q, want the PVC %q", claim, r.pvc.Name)
	}
	c := r.container(t)
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || (m.Name == "data" && m.MountPath == "/data")
	}
	e := env(c)
	if !mounted || e["BERTH_DATA_DIR"].Value != "/data" || e["BERTH_EMBEDDED_ADDR"].Value != ":5000" || e["BERTH_NO_DEMO"].Value != "true" {
		t.Errorf("data volume mounted %v, env %v", mounted, c.Env)
	}
	if _, ok := e["BERTH_REGISTRY"]; ok {
		t.Error("BERTH_REGISTRY set for the embedded registry")
	}
}

func TestRefusesWhatCannotWork(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"embedded registry, two replicas", map[string]any{"replicaCount": 2}, "set replicaCount to 1"},
		{"replicas without PostgreSQL", map[string]any{"replicaCount": 2, "registry": map[string]any{"url": "http://r:5000"}, "cache": map[string]any{"url": "redis://r"}}, "shared event store"},
		{"replicas without Redis", map[string]any{"replicaCount": 2, "registry": map[string]any{"url": "http://r:5000"}, "database": map[string]any{"url": "postgres://p/b"}}, "shared Redis"},
		{"username without password", map[string]any{"registry": map[string]any{"url": "http://r:5000", "username": "u"}}, "registry.password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.vals)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func checkProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port.String() != "http" {
			t.Errorf("probe on %s: %+v", name, p)
		}
	}
	if len(c.Ports) == 0 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports %+v, want http on 8080", c.Ports)
	}
}

func checkSecurity(t *testing.T, r *rendered) {
	t.Helper()
	pod := r.deployment.Spec.Template.Spec.SecurityContext
	if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot || pod.RunAsUser == nil || *pod.RunAsUser == 0 {
		t.Errorf("pod security context %+v, want non-root", pod)
	}
	sc := r.container(t).SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context %+v, want read-only root, no escalation, drop ALL", sc)
	}
	if a := r.deployment.Spec.Template.Spec.AutomountServiceAccountToken; a == nil || *a {
		t.Error("the service account token is mounted; Berth does not talk to the Kubernetes API")
	}
}

// checkMount checks that path is mounted from key of the Secret secretName.
func checkMount(t *testing.T, r *rendered, path, secretName, key string) {
	t.Helper()
	var volume string
	for _, m := range r.container(t).VolumeMounts {
		if m.MountPath == path && m.ReadOnly {
			volume = m.Name
		}
	}
	for _, v := range r.deployment.Spec.Template.Spec.Volumes {
		if v.Name == volume && v.Secret != nil && v.Secret.SecretName == secretName && len(v.Secret.Items) == 1 && v.Secret.Items[0].Key == key {
			return
		}
	}
	t.Errorf("%s is not mounted read-only from secret %s key %s", path, secretName, key)
}
