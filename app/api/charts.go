package api

// ChartVersions is GET /api/v1/charts/{repository}/versions: the chart versions a repository
// holds, newest first by semantic version (not by tag string).
type ChartVersions struct {
	Repository string `json:"repository"`
	Name       string `json:"name"`
	// Latest is the version a chart page opens on and helm installs without --version: the
	// newest stable one, or the newest pre-release when there is no stable version.
	Latest   string         `json:"latest"`
	Versions []ChartSummary `json:"versions"`
}

// ChartSummary is one chart version in a list.
type ChartSummary struct {
	Version     string `json:"version"`
	AppVersion  string `json:"appVersion,omitempty"`
	Description string `json:"description,omitempty"`
	Created     string `json:"created,omitempty"`
	Digest      string `json:"digest"`
	Deprecated  bool   `json:"deprecated,omitempty"`
	// Prerelease marks a semantic version with a pre-release part (2.0.0-beta.1).
	Prerelease bool `json:"prerelease,omitempty"`
}

// Chart is GET /api/v1/charts/{repository}/versions/{version}: one chart version in depth.
type Chart struct {
	Repository string `json:"repository"`
	Version    string `json:"version"`
	Digest     string `json:"digest"`
	Created    string `json:"created,omitempty"`
	// Prerelease marks a semantic version with a pre-release part (2.0.0-beta.1).
	Prerelease bool          `json:"prerelease,omitempty"`
	Metadata   ChartMetadata `json:"metadata"`
	// ReadmeHTML is the chart's README rendered by the server with raw HTML escaped and
	// dangerous links dropped: the only HTML the UI inserts as is.
	ReadmeHTML string `json:"readmeHTML,omitempty"`
	// Values is values.yaml as written; ValuesTree is the same parsed into JSON.
	Values       string           `json:"values,omitempty"`
	ValuesTree   map[string]any   `json:"valuesTree,omitempty"`
	ValuesSchema string           `json:"valuesSchema,omitempty"`
	Templates    []string         `json:"templates"`
	Provenance   string           `json:"provenance,omitempty"`
	Signatures   []ChartSignature `json:"signatures,omitempty"`
	Install      string           `json:"install"`
	Pull         string           `json:"pull"`
}

// ChartMetadata is Chart.yaml.
type ChartMetadata struct {
	APIVersion   string            `json:"apiVersion,omitempty"`
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Description  string            `json:"description,omitempty"`
	Type         string            `json:"type,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Maintainers  []ChartMaintainer `json:"maintainers,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Dependencies []ChartDependency `json:"dependencies,omitempty"`
}

// ChartMaintainer is one entry of Chart.yaml's maintainers.
type ChartMaintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

// ChartDependency is one entry of Chart.yaml's dependencies; Version is a range.
type ChartDependency struct {
	Name       string   `json:"name"`
	Version    string   `json:"version,omitempty"`
	Repository string   `json:"repository,omitempty"`
	Condition  string   `json:"condition,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	Alias      string   `json:"alias,omitempty"`
}

// ChartSignature is a referrer of the chart manifest: a cosign or Notation signature, an
// attestation, an SBOM.
type ChartSignature struct {
	Digest       string `json:"digest"`
	ArtifactType string `json:"artifactType,omitempty"`
	Size         int64  `json:"size"`
	Created      string `json:"created,omitempty"`
}
