package contents

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/app/api"
)

// parsed is what one supply-chain document says.
type parsed struct {
	kind     string // sbom, vulnerabilities, other
	format   string
	packages []api.Package
	findings []api.Finding
	// statement is set for an in-toto statement: its predicate type and subject digests.
	predicateType string
	subjects      []string
	// keyIDs are the signatures' key ids of a DSSE envelope.
	keyIDs []string
	dsse   bool
}

// errMalformed marks a document that is not what it claims to be.
var errMalformed = errors.New("malformed document")

func malformed(format, why string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", errMalformed, format, fmt.Sprintf(why, args...))
}

// parseDocument recognizes a document by its content, since registries and tools label them
// loosely: SPDX 2.x JSON, CycloneDX JSON, SARIF 2.1, Trivy JSON, an in-toto statement (also
// inside a DSSE envelope), or a cosign vulnerability predicate.
func parseDocument(data []byte, depth int) (parsed, error) {
	if depth > 3 {
		return parsed{}, malformed("document", "nested too deeply")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return parsed{}, malformed("JSON", "%s", jsonProblem(err))
	}
	str := func(key string) string {
		var s string
		_ = json.Unmarshal(top[key], &s)
		return s
	}
	switch {
	case top["payloadType"] != nil && top["payload"] != nil:
		return parseDSSE(data, depth)
	case top["_type"] != nil && top["predicateType"] != nil:
		return parseStatement(data, depth)
	case top["spdxVersion"] != nil:
		return parseSPDX(data)
	case str("bomFormat") == "CycloneDX":
		return parseCycloneDX(data)
	case top["runs"] != nil && (strings.Contains(str("$schema"), "sarif") || str("version") == "2.1.0"):
		return parseSARIF(data)
	case top["SchemaVersion"] != nil && (top["Results"] != nil || top["ArtifactName"] != nil):
		return parseTrivy(data)
	case top["scanner"] != nil:
		var pred struct {
			Scanner struct {
				URI     string          `json:"uri"`
				Version string          `json:"version"`
				Result  json.RawMessage `json:"result"`
			} `json:"scanner"`
		}
		if err := json.Unmarshal(data, &pred); err != nil || len(pred.Scanner.Result) == 0 || string(pred.Scanner.Result) == "null" {
			return parsed{}, malformed("cosign vulnerability predicate", "scanner.result is missing")
		}
		p, err := parseDocument(pred.Scanner.Result, depth+1)
		if err != nil {
			return p, err
		}
		p.kind = "vulnerabilities"
		return p, nil
	}
	return parsed{}, malformed("document", "not SPDX, CycloneDX, SARIF, Trivy JSON or an in-toto attestation")
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %s has the wrong type", te.Field)
	}
	return "invalid JSON"
}

func parseDSSE(data []byte, depth int) (parsed, error) {
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return parsed{}, malformed("DSSE envelope", "%s", jsonProblem(err))
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		if payload, err = base64.URLEncoding.DecodeString(env.Payload); err != nil {
			return parsed{}, malformed("DSSE envelope", "payload is not base64")
		}
	}
	if env.PayloadType != "application/vnd.in-toto+json" {
		return parsed{}, malformed("DSSE envelope", "payload type %q is not an in-toto statement", env.PayloadType)
	}
	p, err := parseDocument(payload, depth+1)
	if err != nil {
		return p, err
	}
	p.dsse = true
	for _, s := range env.Signatures {
		p.keyIDs = append(p.keyIDs, s.KeyID)
	}
	return p, nil
}

func parseStatement(data []byte, depth int) (parsed, error) {
	var st struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return parsed{}, malformed("in-toto statement", "%s", jsonProblem(err))
	}
	if !strings.HasPrefix(st.Type, "https://in-toto.io/Statement/") {
		return parsed{}, malformed("in-toto statement", "_type %q is not an in-toto statement", st.Type)
	}
	var subjects []string
	for _, s := range st.Subject {
		if h := s.Digest["sha256"]; h != "" {
			subjects = append(subjects, "sha256:"+h)
		}
	}
	pt := st.PredicateType
	known := strings.HasPrefix(pt, "https://spdx.dev/Document") || strings.HasPrefix(pt, "https://cyclonedx.org/bom") ||
		strings.HasPrefix(pt, "https://cosign.sigstore.dev/attestation/vuln") || strings.Contains(pt, "sarif") || strings.Contains(pt, "trivy")
	if !known {
		// Provenance and other predicates: listed, not parsed.
		return parsed{kind: "other", format: "in-toto " + pt, predicateType: pt, subjects: subjects}, nil
	}
	pred := st.Predicate
	// Some tools wrap the document as a JSON string.
	var inner string
	if json.Unmarshal(pred, &inner) == nil {
		pred = []byte(inner)
	}
	p, err := parseDocument(pred, depth+1)
	if err != nil {
		return p, err
	}
	p.predicateType, p.subjects = pt, subjects
	return p, nil
}

func parseSPDX(data []byte) (parsed, error) {
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name             string `json:"name"`
			VersionInfo      string `json:"versionInfo"`
			LicenseConcluded string `json:"licenseConcluded"`
			LicenseDeclared  string `json:"licenseDeclared"`
			PrimaryPurpose   string `json:"primaryPackagePurpose"`
			ExternalRefs     []struct {
				Type    string `json:"referenceType"`
				Locator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return parsed{}, malformed("SPDX", "%s", jsonProblem(err))
	}
	if !strings.HasPrefix(doc.SPDXVersion, "SPDX-2.") {
		return parsed{}, malformed("SPDX", "spdxVersion %q is not SPDX 2.x", doc.SPDXVersion)
	}
	p := parsed{kind: "sbom", format: doc.SPDXVersion, packages: []api.Package{}}
	for i, pk := range doc.Packages {
		if pk.Name == "" {
			return parsed{}, malformed("SPDX", "package %d has no name", i+1)
		}
		out := api.Package{Name: pk.Name, Version: pk.VersionInfo, License: license(pk.LicenseConcluded, pk.LicenseDeclared), Type: strings.ToLower(pk.PrimaryPurpose)}
		for _, r := range pk.ExternalRefs {
			if r.Type == "purl" {
				out.PURL = r.Locator
				if t := purlType(r.Locator); t != "" {
					out.Type = t
				}
			}
		}
		p.packages = append(p.packages, out)
	}
	return p, nil
}

// license picks the first license expression that says something.
func license(candidates ...string) string {
	for _, l := range candidates {
		if l != "" && l != "NOASSERTION" && l != "NONE" {
			return l
		}
	}
	return ""
}

// purlType is the ecosystem of a package URL: pkg:apk/alpine/musl@1.2 → apk.
func purlType(purl string) string {
	rest, ok := strings.CutPrefix(purl, "pkg:")
	if !ok {
		return ""
	}
	t, _, _ := strings.Cut(rest, "/")
	return strings.ToLower(t)
}

type cdxComponent struct {
	BOMRef   string `json:"bom-ref"`
	Type     string `json:"type"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	PURL     string `json:"purl"`
	Licenses []struct {
		License struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"license"`
		Expression string `json:"expression"`
	} `json:"licenses"`
	Components []cdxComponent `json:"components"`
}

func parseCycloneDX(data []byte) (parsed, error) {
	var doc struct {
		SpecVersion     string         `json:"specVersion"`
		Components      []cdxComponent `json:"components"`
		Vulnerabilities []struct {
			ID          string `json:"id"`
			Description string `json:"description"`
			Detail      string `json:"detail"`
			Ratings     []struct {
				Severity string `json:"severity"`
			} `json:"ratings"`
			Affects []struct {
				Ref string `json:"ref"`
			} `json:"affects"`
		} `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return parsed{}, malformed("CycloneDX", "%s", jsonProblem(err))
	}
	if doc.SpecVersion == "" {
		return parsed{}, malformed("CycloneDX", "specVersion is missing")
	}
	p := parsed{kind: "sbom", format: "CycloneDX " + doc.SpecVersion, packages: []api.Package{}}
	names := map[string]cdxComponent{}
	var walk func(cs []cdxComponent, depth int) error
	walk = func(cs []cdxComponent, depth int) error {
		if depth > 16 {
			return malformed("CycloneDX", "components nested too deeply")
		}
		for i, c := range cs {
			if c.Name == "" {
				return malformed("CycloneDX", "component %d has no name", i+1)
			}
			var lic []string
			for _, l := range c.Licenses {
				lic = append(lic, license(l.Expression, l.License.ID, l.License.Name))
			}
			t := purlType(c.PURL)
			if t == "" {
				t = c.Type
			}
			p.packages = append(p.packages, api.Package{Name: c.Name, Version: c.Version, Type: t, License: strings.Join(nonEmpty(lic), " AND "), PURL: c.PURL})
			if c.BOMRef != "" {
				names[c.BOMRef] = c
			}
			if err := walk(c.Components, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(doc.Components, 0); err != nil {
		return parsed{}, err
	}
	for _, v := range doc.Vulnerabilities {
		sev := "unknown"
		for _, r := range v.Ratings {
			if s := severity(r.Severity); rank(s) > rank(sev) {
				sev = s
			}
		}
		f := api.Finding{ID: v.ID, Severity: sev, Title: firstLine(v.Description)}
		if len(v.Affects) > 0 {
			if c, ok := names[v.Affects[0].Ref]; ok {
				f.Package, f.Version = c.Name, c.Version
			} else {
				f.Package = v.Affects[0].Ref
			}
		}
		p.findings = append(p.findings, f)
	}
	if len(doc.Vulnerabilities) > 0 && len(doc.Components) == 0 {
		p.kind = "vulnerabilities"
	}
	return p, nil
}

func parseSARIF(data []byte) (parsed, error) {
	type rule struct {
		ID               string `json:"id"`
		ShortDescription struct {
			Text string `json:"text"`
		} `json:"shortDescription"`
		Properties struct {
			SecuritySeverity string   `json:"security-severity"`
			Tags             []string `json:"tags"`
		} `json:"properties"`
	}
	var doc struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []rule `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID  string `json:"ruleId"`
				Level   string `json:"level"`
				Message struct {
					Text string `json:"text"`
				} `json:"message"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return parsed{}, malformed("SARIF", "%s", jsonProblem(err))
	}
	if doc.Version != "2.1.0" {
		return parsed{}, malformed("SARIF", "version %q is not 2.1.0", doc.Version)
	}
	p := parsed{kind: "vulnerabilities", format: "SARIF " + doc.Version, findings: []api.Finding{}}
	for _, run := range doc.Runs {
		rules := map[string]rule{}
		for _, r := range run.Tool.Driver.Rules {
			rules[r.ID] = r
		}
		for i, res := range run.Results {
			if res.RuleID == "" {
				return parsed{}, malformed("SARIF", "result %d has no ruleId", i+1)
			}
			r := rules[res.RuleID]
			f := api.Finding{ID: res.RuleID, Title: r.ShortDescription.Text, Severity: "unknown"}
			for _, t := range r.Properties.Tags {
				if s := severity(t); s != "unknown" {
					f.Severity = s
				}
			}
			if f.Severity == "unknown" && r.Properties.SecuritySeverity != "" {
				if score, err := strconv.ParseFloat(r.Properties.SecuritySeverity, 64); err == nil {
					f.Severity = cvssSeverity(score)
				}
			}
			if f.Severity == "unknown" {
				f.Severity = map[string]string{"error": "high", "warning": "medium", "note": "low"}[res.Level]
				if f.Severity == "" {
					f.Severity = "unknown"
				}
			}
			// Trivy writes the package into the message: "Package: musl\nInstalled Version: 1.2".
			for _, line := range strings.Split(res.Message.Text, "\n") {
				k, v, ok := strings.Cut(line, ": ")
				if !ok {
					continue
				}
				switch strings.TrimSpace(k) {
				case "Package":
					f.Package = strings.TrimSpace(v)
				case "Installed Version":
					f.Version = strings.TrimSpace(v)
				case "Fixed Version":
					f.FixedVersion = strings.TrimSpace(v)
				}
			}
			if f.Title == "" {
				f.Title = firstLine(res.Message.Text)
			}
			p.findings = append(p.findings, f)
		}
	}
	return p, nil
}

func parseTrivy(data []byte) (parsed, error) {
	var doc struct {
		SchemaVersion int    `json:"SchemaVersion"`
		ArtifactName  string `json:"ArtifactName"`
		Results       []struct {
			Target          string `json:"Target"`
			Type            string `json:"Type"`
			Vulnerabilities []struct {
				VulnerabilityID  string `json:"VulnerabilityID"`
				PkgName          string `json:"PkgName"`
				InstalledVersion string `json:"InstalledVersion"`
				FixedVersion     string `json:"FixedVersion"`
				Severity         string `json:"Severity"`
				Title            string `json:"Title"`
			} `json:"Vulnerabilities"`
			Packages []struct {
				Name     string   `json:"Name"`
				Version  string   `json:"Version"`
				Licenses []string `json:"Licenses"`
			} `json:"Packages"`
		} `json:"Results"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return parsed{}, malformed("Trivy", "%s", jsonProblem(err))
	}
	if doc.SchemaVersion < 2 {
		return parsed{}, malformed("Trivy", "SchemaVersion %d is not 2", doc.SchemaVersion)
	}
	p := parsed{kind: "vulnerabilities", format: "Trivy JSON v" + strconv.Itoa(doc.SchemaVersion), findings: []api.Finding{}}
	for _, r := range doc.Results {
		for i, v := range r.Vulnerabilities {
			if v.VulnerabilityID == "" {
				return parsed{}, malformed("Trivy", "vulnerability %d of %s has no VulnerabilityID", i+1, r.Target)
			}
			p.findings = append(p.findings, api.Finding{ID: v.VulnerabilityID, Severity: severity(v.Severity), Package: v.PkgName, Version: v.InstalledVersion, FixedVersion: v.FixedVersion, Title: v.Title})
		}
		for _, pk := range r.Packages {
			p.packages = append(p.packages, api.Package{Name: pk.Name, Version: pk.Version, Type: r.Type, License: strings.Join(pk.Licenses, " AND ")})
		}
	}
	return p, nil
}

// severity normalizes the words scanners use.
func severity(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return "critical"
	case "high", "important":
		return "high"
	case "medium", "moderate":
		return "medium"
	case "low", "negligible", "info", "informational", "none":
		return "low"
	}
	return "unknown"
}

func rank(s string) int {
	return map[string]int{"unknown": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}[s]
}

// cvssSeverity maps a CVSS v3 base score to its qualitative rating.
func cvssSeverity(score float64) string {
	switch {
	case score >= 9:
		return "critical"
	case score >= 7:
		return "high"
	case score >= 4:
		return "medium"
	case score > 0:
		return "low"
	}
	return "unknown"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func nonEmpty(ss []string) []string {
	out := ss[:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// count adds findings to severity counts.
func count(sev *api.Severities, fs []api.Finding) {
	for _, f := range fs {
		switch f.Severity {
		case "critical":
			sev.Critical++
		case "high":
			sev.High++
		case "medium":
			sev.Medium++
		case "low":
			sev.Low++
		default:
			sev.Unknown++
		}
	}
}

// trimJSON drops a UTF-8 byte order mark some tools write.
func trimJSON(b []byte) []byte {
	return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
}
