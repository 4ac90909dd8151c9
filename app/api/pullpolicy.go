package api

import "time"

// PullPolicy is what a namespace's images must meet to be pulled through Berth's /v2 (and
// the embedded registry): no vulnerability finding at or above Severity ("" ignores
// findings), and with Signed a cosign signature, by one of Keys (PEM public keys) when given.
// Global says the namespace has no policy of its own and this is the global default.
type PullPolicy struct {
	Namespace string     `json:"namespace"`
	Severity  string     `json:"severity"`
	Signed    bool       `json:"signed"`
	Keys      string     `json:"keys,omitempty"`
	Global    bool       `json:"global,omitempty"`
	UpdatedBy string     `json:"updatedBy,omitempty"`
	Updated   *time.Time `json:"updated,omitempty"`
}

// PullPolicyRequest sets a namespace's pull policy; no severity and not signed removes it
// (the global default applies again).
type PullPolicyRequest struct {
	Severity string `json:"severity"`
	Signed   bool   `json:"signed"`
	Keys     string `json:"keys"`
}

// MaxPolicyKeys bounds the PEM text of a pull policy's keys.
const MaxPolicyKeys = 32 << 10
