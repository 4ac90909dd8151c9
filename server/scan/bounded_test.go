package scan

import (
	"errors"
	"strings"
	"testing"
)

// TestImageOverBudgetFails: an image whose layers unpack past MaxImageBytes (a gzip bomb
// compresses a lot of zeros into little) fails its scan with a clear reason, having read no
// more than the budget.
func TestImageOverBudgetFails(t *testing.T) {
	old := MaxImageBytes
	MaxImageBytes = 64 << 10
	t.Cleanup(func() { MaxImageBytes = old })
	img := fixtureImage(t, map[string][]byte{"var/lib/zeros": make([]byte, 1<<20)})
	_, err := Image(t.Context(), img, "", "test/bomb@sha256:x")
	if err == nil || !errors.Is(err, errImageTooLarge) && !strings.Contains(err.Error(), errImageTooLarge.Error()) {
		t.Fatalf("scan of an image past the budget: %v, want %q", err, errImageTooLarge)
	}
}
