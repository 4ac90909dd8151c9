package auth

import (
	"slices"
	"strings"
)

// Access is one resource and the actions on it, as in a token request's scope and in the
// "access" claim of the token (the Docker registry token specification).
type Access struct {
	Type    string   `json:"type"`
	Class   string   `json:"class,omitempty"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// String is the scope form: type[(class)]:name:action,action.
func (a Access) String() string {
	t := a.Type
	if a.Class != "" {
		t += "(" + a.Class + ")"
	}
	return t + ":" + a.Name + ":" + strings.Join(a.Actions, ",")
}

// ParseScopes reads the scope parameters of a token request. Each may hold several scopes
// separated by spaces; a scope is type[(class)]:name:actions, where the name may itself
// contain colons (a registry host with a port), so the type ends at the first colon and the
// actions start after the last. Malformed scopes are skipped, as distribution's token
// servers do; the same resource asked twice is merged.
func ParseScopes(params []string) []Access {
	var out []Access
	for _, p := range params {
		for _, s := range strings.Fields(p) {
			first, last := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
			if first <= 0 || last == first {
				continue
			}
			a := Access{Type: s[:first], Name: s[first+1 : last]}
			if i := strings.IndexByte(a.Type, '('); i > 0 && strings.HasSuffix(a.Type, ")") {
				a.Type, a.Class = a.Type[:i], a.Type[i+1:len(a.Type)-1]
			}
			if a.Name == "" {
				continue
			}
			for _, act := range strings.Split(s[last+1:], ",") {
				if act = strings.TrimSpace(act); act != "" && !slices.Contains(a.Actions, act) {
					a.Actions = append(a.Actions, act)
				}
			}
			if len(a.Actions) == 0 {
				continue
			}
			if i := slices.IndexFunc(out, func(o Access) bool { return o.Type == a.Type && o.Class == a.Class && o.Name == a.Name }); i >= 0 {
				for _, act := range a.Actions {
					if !slices.Contains(out[i].Actions, act) {
						out[i].Actions = append(out[i].Actions, act)
					}
				}
				continue
			}
			out = append(out, a)
		}
	}
	return out
}

// FormatScopes is the space-separated scope form of access, for the audit log.
func FormatScopes(access []Access) string {
	parts := make([]string, len(access))
	for i, a := range access {
		parts[i] = a.String()
	}
	return strings.Join(parts, " ")
}
