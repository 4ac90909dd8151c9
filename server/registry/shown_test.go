package registry

import (
	"strings"
	"testing"
)

// TestAddressErrorsHideCredentials: a registry URL refused for carrying credentials or a
// token is named in the error without them (the error reaches logs and terminals).
func TestAddressErrorsHideCredentials(t *testing.T) {
	for _, raw := range []string{
		"https://robot:hunter2-pass@registry.example", "https://registry.example/?token=hunter2-pass",
		"ftp://robot:hunter2-pass@registry.example", "https://registry.example/#hunter2-pass",
	} {
		_, err := ParseAddress(raw)
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "registry.example") {
			t.Errorf("%s: %v", raw, err)
		}
	}
}
