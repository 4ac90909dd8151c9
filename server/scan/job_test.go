package scan

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestScanJobFails: a scan of an image the registry does not have ends its job failed,
// saying why, after its queued and scanning phases (what GET /api/v1/jobs/{id}/events
// replays).
func TestScanJobFails(t *testing.T) {
	st, svc := newService(t, registrytest.Distribution3(t).URL)
	const missing = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	id, err := svc.Enqueue(t.Context(), "team/gone", missing)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		last, err := st.LastJobEvents(t.Context(), []int64{id})
		if err != nil {
			t.Fatal(err)
		}
		if last[id].Final {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scan job did not end: %+v", last[id])
		}
		time.Sleep(20 * time.Millisecond)
	}
	events, err := st.JobEvents(t.Context(), id, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	var final api.JobEvent
	for _, e := range events {
		final = api.JobEvent{}
		if err := json.Unmarshal(e.Data, &final); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, final.Type+" "+final.Phase+final.State)
	}
	if got := strings.Join(seen, ", "); got != "phase queued, phase scanning, error failed" ||
		!strings.HasPrefix(final.Error, "the image could not be read") || strings.Contains(final.Error, "/v2/") {
		t.Errorf("events %s, final error %q", got, final.Error)
	}
}
