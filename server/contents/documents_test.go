package contents

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envelope wraps a predicate in an in-toto statement inside a DSSE envelope, as cosign attest does.
func envelope(t testing.TB, predicateType string, predicate []byte) []byte {
	t.Helper()
	st, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": predicateType,
		"subject":       []map[string]any{{"name": "look/inside", "digest": map[string]string{"sha256": strings.Repeat("a", 64)}}},
		"predicate":     json.RawMessage(predicate),
	})
	if err != nil {
		t.Fatal(err)
	}
	env, err := json.Marshal(map[string]any{
		"payloadType": "application/vnd.in-toto+json",
		"payload":     base64.StdEncoding.EncodeToString(st),
		"signatures":  []map[string]string{{"keyid": "SHA256:k3y", "sig": "MEUCIQ=="}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestParseDocuments(t *testing.T) {
	trivy := fixture(t, "trivy.json")
	vulnPredicate, _ := json.Marshal(map[string]any{
		"invocation": map[string]any{"uri": "", "event_id": ""},
		"scanner":    map[string]any{"uri": "pkg:github/aquasecurity/trivy@0.52.0", "version": "0.52.0", "result": json.RawMessage(trivy)},
		"metadata":   map[string]string{"scanStartedOn": "2026-01-02T03:04:05Z", "scanFinishedOn": "2026-01-02T03:04:06Z"},
	})
	for _, c := range []struct {
		name, kind, format string
		data               []byte
		packages, findings int
		check              func(t *testing.T, p parsed)
	}{
		{"spdx", "sbom", "SPDX-2.3", fixture(t, "spdx-2.3.json"), 2, 0, func(t *testing.T, p parsed) {
			if got := p.packages[0]; got.Name != "musl" || got.Version != "1.2.5-r0" || got.Type != "apk" || got.License != "MIT" {
				t.Errorf("musl = %+v", got)
			}
			if got := p.packages[1]; got.Type != "golang" || got.License != "BSD-3-Clause" {
				t.Errorf("x/net = %+v", got)
			}
		}},
		{"cyclonedx", "sbom", "CycloneDX 1.5", fixture(t, "cyclonedx-1.5.json"), 3, 1, func(t *testing.T, p parsed) {
			if got := p.packages[1]; got.Name != "lodash" || got.Type != "npm" || got.License != "MIT" {
				t.Errorf("lodash = %+v", got)
			}
			if got := p.findings[0]; got.ID != "CVE-2021-23337" || got.Severity != "high" || got.Package != "lodash" || got.Version != "4.17.20" {
				t.Errorf("finding = %+v", got)
			}
		}},
		{"sarif", "vulnerabilities", "SARIF 2.1.0", fixture(t, "trivy.sarif"), 0, 2, func(t *testing.T, p parsed) {
			if got := p.findings[1]; got.ID != "CVE-2024-5535" || got.Severity != "critical" || got.Package != "libcrypto3" || got.FixedVersion != "3.3.1-r1" {
				t.Errorf("finding = %+v", got)
			}
			if p.findings[0].Severity != "medium" {
				t.Errorf("finding 0 = %+v", p.findings[0])
			}
		}},
		{"trivy", "vulnerabilities", "Trivy JSON v2", trivy, 0, 3, func(t *testing.T, p parsed) {
			if got := p.findings[2]; got.ID != "GHSA-35jh-r3h4-6jhm" || got.Severity != "high" || got.Package != "lodash" {
				t.Errorf("finding = %+v", got)
			}
		}},
		{"cosign vuln attestation", "vulnerabilities", "Trivy JSON v2", envelope(t, "https://cosign.sigstore.dev/attestation/vuln/v1", vulnPredicate), 0, 3, func(t *testing.T, p parsed) {
			if !p.dsse || p.keyIDs[0] != "SHA256:k3y" || p.subjects[0] != "sha256:"+strings.Repeat("a", 64) {
				t.Errorf("envelope = %+v", p)
			}
		}},
		{"spdx attestation", "sbom", "SPDX-2.3", envelope(t, "https://spdx.dev/Document", fixture(t, "spdx-2.3.json")), 2, 0, nil},
		{"cyclonedx attestation", "sbom", "CycloneDX 1.5", envelope(t, "https://cyclonedx.org/bom", fixture(t, "cyclonedx-1.5.json")), 3, 1, nil},
		{"provenance", "other", "in-toto https://slsa.dev/provenance/v0.2", envelope(t, "https://slsa.dev/provenance/v0.2", []byte(`{"builder":{"id":"x"}}`)), 0, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := parseDocument(c.data, 0)
			if err != nil {
				t.Fatal(err)
			}
			if p.kind != c.kind || p.format != c.format || len(p.packages) != c.packages || len(p.findings) != c.findings {
				t.Fatalf("got %s %q, %d packages, %d findings", p.kind, p.format, len(p.packages), len(p.findings))
			}
			if c.check != nil {
				c.check(t, p)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	for _, c := range []struct{ name, data, want string }{
		{"not json", `{"spdxVersion": "SPDX-2.3", "packages": [`, "invalid JSON"},
		{"unknown", `{"hello": "world"}`, "not SPDX, CycloneDX, SARIF, Trivy JSON or an in-toto attestation"},
		{"spdx 3", `{"spdxVersion": "SPDX-3.0", "packages": []}`, `spdxVersion "SPDX-3.0" is not SPDX 2.x`},
		{"spdx packages", `{"spdxVersion": "SPDX-2.3", "packages": {"name": "x"}}`, "field packages has the wrong type"},
		{"spdx nameless", `{"spdxVersion": "SPDX-2.3", "packages": [{"versionInfo": "1"}]}`, "package 1 has no name"},
		{"cyclonedx", `{"bomFormat": "CycloneDX", "components": []}`, "specVersion is missing"},
		{"sarif version", `{"version": "2.0.0", "$schema": "sarif", "runs": []}`, `version "2.0.0" is not 2.1.0`},
		{"sarif rule", `{"version": "2.1.0", "runs": [{"results": [{"level": "error"}]}]}`, "result 1 has no ruleId"},
		{"trivy", `{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": [{"Severity": "HIGH"}]}]}`, "vulnerability 1 of x has no VulnerabilityID"},
		{"dsse payload", `{"payloadType": "application/vnd.in-toto+json", "payload": "%%%"}`, "payload is not base64"},
		{"dsse type", `{"payloadType": "text/plain", "payload": "aGk="}`, `payload type "text/plain" is not an in-toto statement`},
		{"vuln predicate", `{"scanner": {"uri": "x"}}`, "scanner.result is missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseDocument([]byte(c.data), 0)
			if !errors.Is(err, errMalformed) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v; want %q", err, c.want)
			}
		})
	}
}
