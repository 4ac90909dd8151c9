package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
)

// contractJobs covers job events and secrets.
func contractJobs(t *testing.T, open func(*testing.T) store.Store) {
	t.Run("job events and secrets", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		at := base
		evs := []store.JobEvent{
			{JobID: 7, Seq: 1, Time: at, Data: []byte(`{"type":"phase"}`)},
			{JobID: 7, Seq: 2, Time: at.Add(time.Second), Done: 10, Total: 40, Data: []byte(`{"type":"progress"}`)},
			{JobID: 8, Seq: 1, Time: at, Data: []byte(`{"type":"phase"}`)},
		}
		if err := s.AddJobEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		// A second writer of the same (job, seq) — a resumed job, two replicas closing one
		// job — changes nothing.
		if err := s.AddJobEvents(ctx, []store.JobEvent{{JobID: 7, Seq: 2, Time: at, Data: []byte(`{"type":"other"}`)},
			{JobID: 7, Seq: 3, Time: at.Add(2 * time.Second), Done: 40, Total: 40, Final: true, Data: []byte(`{"type":"result"}`)}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.JobEvents(ctx, 7, 1, 0)
		if err != nil || len(got) != 2 || got[0].Seq != 2 || string(got[0].Data) != `{"type":"progress"}` || !got[1].Final || !got[1].Time.Equal(at.Add(2*time.Second)) {
			t.Fatalf("events after 1: %+v, %v", got, err)
		}
		last, err := s.LastJobEvents(ctx, []int64{7, 8, 9})
		if err != nil || len(last) != 2 || last[7].Seq != 3 || last[7].Done != 40 || string(last[7].Data) != `{"type":"result"}` || last[8].Data != nil {
			t.Fatalf("last events: %+v, %v", last, err)
		}
		if err := s.DeleteJobEvents(ctx, []int64{7}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.JobEvents(ctx, 7, 0, 0); err != nil || len(got) != 0 {
			t.Fatalf("after delete: %+v, %v", got, err)
		}
		if got, err := s.JobEvents(ctx, 8, 0, 0); err != nil || len(got) != 1 {
			t.Fatalf("other job after delete: %+v, %v", got, err)
		}

		if err := s.PutJobSecret(ctx, "s1", []byte{0, 1, 2, 255}); err != nil {
			t.Fatal(err)
		}
		sealed, ok, err := s.JobSecret(ctx, "s1")
		if err != nil || !ok || !slices.Equal(sealed, []byte{0, 1, 2, 255}) {
			t.Fatalf("secret: %v, %v, %v", sealed, ok, err)
		}
		if ids, err := s.JobSecretIDs(ctx, time.Now().Add(time.Minute)); err != nil || !slices.Equal(ids, []string{"s1"}) {
			t.Fatalf("secret ids: %v, %v", ids, err)
		}
		if ids, err := s.JobSecretIDs(ctx, time.Now().Add(-time.Hour)); err != nil || len(ids) != 0 {
			t.Fatalf("secret ids an hour ago: %v, %v", ids, err)
		}
		if err := s.DeleteJobSecrets(ctx, []string{"s1"}); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.JobSecret(ctx, "s1"); ok || err != nil {
			t.Fatalf("secret after delete: %v, %v", ok, err)
		}
	})
}
