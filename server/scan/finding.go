package scan

import (
	"bytes"
	"strings"

	cyclonedx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/osv-scalibr/converter"
	"github.com/google/osv-scalibr/extractor"
	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"

	"github.com/berth-registry/berth/server/store"
)

// Severities, worst first, as the API and the index name them.
const (
	Critical = "critical"
	High     = "high"
	Medium   = "medium"
	Low      = "low"
	Unknown  = "unknown"
)

// Rank orders severities: critical 4 … low 1, unknown (or anything else) 0.
func Rank(severity string) int {
	switch strings.ToLower(severity) {
	case Critical:
		return 4
	case High:
		return 3
	case Medium, "moderate":
		return 2
	case Low:
		return 1
	}
	return 0
}

// finding describes what vuln means for pkg.
func finding(vuln *osvpb.Vulnerability, pkg *extractor.Package) store.ScanFinding {
	f := store.ScanFinding{
		ID: vuln.GetId(), Package: pkg.Name, Version: pkg.Version,
		Severity: severity(vuln), Summary: clip(vuln.GetSummary(), 300),
	}
	if p := converter.ToPURL(pkg); p != nil {
		f.Ecosystem = p.Type
	}
	for _, a := range vuln.GetAffected() {
		if a.GetPackage().GetName() != pkg.Name {
			continue
		}
		if eco := a.GetPackage().GetEcosystem(); eco != "" {
			f.Ecosystem = eco
		}
		for _, r := range a.GetRanges() {
			for _, e := range r.GetEvents() {
				if e.GetFixed() != "" {
					f.Fixed = e.GetFixed()
				}
			}
		}
		break
	}
	return f
}

// severity is the advisory's own rating (database_specific.severity, as GitHub and most
// distributions publish it), else the worst CVSS vector's rating.
func severity(vuln *osvpb.Vulnerability) string {
	if s := vuln.GetDatabaseSpecific().GetFields()["severity"].GetStringValue(); Rank(s) > 0 {
		return canonical(s)
	}
	for _, a := range vuln.GetAffected() {
		if s := a.GetDatabaseSpecific().GetFields()["severity"].GetStringValue(); Rank(s) > 0 {
			return canonical(s)
		}
	}
	worst := Unknown
	for _, s := range vuln.GetSeverity() {
		if r := cvssRating(s.GetScore()); Rank(r) > Rank(worst) {
			worst = r
		}
	}
	return worst
}

func canonical(s string) string {
	return [...]string{Unknown, Low, Medium, High, Critical}[Rank(s)]
}

// cvssRating rates a CVSS 3.0, 3.1 or 4.0 vector; unknown for anything else.
func cvssRating(vector string) string {
	var score float64
	switch {
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		v, err := gocvss31.ParseVector(vector)
		if err != nil {
			return Unknown
		}
		score = v.BaseScore()
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		v, err := gocvss30.ParseVector(vector)
		if err != nil {
			return Unknown
		}
		score = v.BaseScore()
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		v, err := gocvss40.ParseVector(vector)
		if err != nil {
			return Unknown
		}
		score = v.Score()
	default:
		return Unknown
	}
	switch {
	case score >= 9:
		return Critical
	case score >= 7:
		return High
	case score >= 4:
		return Medium
	case score > 0:
		return Low
	}
	return Unknown
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// encodeCycloneDX writes bom as CycloneDX 1.5 JSON, the version most consumers read.
func encodeCycloneDX(bom *cyclonedx.BOM) ([]byte, error) {
	var b bytes.Buffer
	if err := cyclonedx.NewBOMEncoder(&b, cyclonedx.BOMFileFormatJSON).EncodeVersion(bom, cyclonedx.SpecVersion1_5); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
