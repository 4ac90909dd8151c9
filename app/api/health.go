package api

import "time"

// Dependencies is the answer of GET /healthz/deps: how the services this replica needs are
// doing. It never makes the replica unready (/readyz); the UI shows a banner from it.
type Dependencies struct {
	// Status is DependencyOK when every dependency is, else "degraded".
	Status   string     `json:"status"`
	Registry Dependency `json:"registry"`
	Store    Dependency `json:"store"`
	// Cache is the shared Redis; absent when there is none.
	Cache *Dependency `json:"cache,omitempty"`
}

// Dependency is one dependency's state and since when this replica has seen it so.
type Dependency struct {
	Status string    `json:"status"`
	Since  time.Time `json:"since"`
}

// States of a dependency, and Dependencies.Status when one is down.
const (
	DependencyOK          = "ok"
	DependencyUnavailable = "unavailable"
	DependenciesDegraded  = "degraded"
)

// Down reports whether the dependency is known to be unavailable.
func (d Dependency) Down() bool { return d.Status == DependencyUnavailable }
