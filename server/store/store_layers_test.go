package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
)

// contractLayers covers the layer indexes, including concurrent puts.
func contractLayers(t *testing.T, open func(*testing.T) store.Store) {
	t.Run("layer indexes", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		const d1, d2 = "sha256:1111", "sha256:2222"
		if _, ok, err := s.LayerIndex(ctx, d1); err != nil || ok {
			t.Fatalf("empty store: ok=%v, %v", ok, err)
		}
		data := make([]byte, 70000) // binary, with every byte value, longer than a page
		for i := range data {
			data[i] = byte(i * 7)
		}
		created := base.Add(time.Minute)
		if err := s.PutLayerIndex(ctx, store.LayerIndex{Digest: d1, Entries: 12, Files: 9, Data: data, Created: created}); err != nil {
			t.Fatal(err)
		}
		// A second put of the same digest (another replica) keeps the first and is no error.
		if err := s.PutLayerIndex(ctx, store.LayerIndex{Digest: d1, Entries: 1, Files: 1, Data: []byte("other")}); err != nil {
			t.Fatalf("second put: %v", err)
		}
		got, ok, err := s.LayerIndex(ctx, d1)
		if err != nil || !ok {
			t.Fatalf("LayerIndex: ok=%v, %v", ok, err)
		}
		if got.Digest != d1 || got.Entries != 12 || got.Files != 9 || !got.Created.Equal(created) || string(got.Data) != string(data) {
			t.Fatalf("round trip: %+v (data %d bytes)", got.Digest, len(got.Data))
		}
		if err := s.PutLayerIndex(ctx, store.LayerIndex{Digest: d2, Entries: 3, Files: 0, Data: []byte{}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutLayerIndex(ctx, store.LayerIndex{Digest: "sha256:3333"}); err == nil {
			t.Error("put without data succeeded")
		}
		// Many digests at once, most unknown: only the stored ones come back, without data.
		ask := []string{d1, d2}
		for i := range 1200 {
			ask = append(ask, fmt.Sprintf("sha256:%04d", i+5000))
		}
		stats, err := s.LayerIndexStats(ctx, ask)
		if err != nil {
			t.Fatal(err)
		}
		if len(stats) != 2 || stats[d1].Entries != 12 || stats[d1].Files != 9 || stats[d2].Entries != 3 || stats[d1].Data != nil {
			t.Fatalf("stats = %+v", stats)
		}
		if empty, err := s.LayerIndexStats(ctx, nil); err != nil || len(empty) != 0 {
			t.Fatalf("stats of nothing = %v, %v", empty, err)
		}
	})

	t.Run("concurrent layer index puts", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				errs <- s.PutLayerIndex(ctx, store.LayerIndex{Digest: "sha256:race", Entries: w, Data: []byte{byte(w)}})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, ok, err := s.LayerIndex(ctx, "sha256:race")
		if err != nil || !ok || len(got.Data) != 1 || int(got.Data[0]) != got.Entries {
			t.Fatalf("after racing puts: %+v, %v, %v", got, ok, err)
		}
	})
}
