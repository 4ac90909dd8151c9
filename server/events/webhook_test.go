package events_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// database is a real event store, SQLite or PostgreSQL, empty when the test starts.
type database struct {
	kind string
	dsn  string
	pg   *storetest.Postgres // nil for SQLite
}

// eachDatabase runs f once against SQLite and once against a PostgreSQL server of its own.
func eachDatabase(t *testing.T, f func(t *testing.T, db database)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, database{kind: "sqlite", dsn: filepath.Join(t.TempDir(), "berth.db")})
	})
	t.Run("postgres", func(t *testing.T) {
		pg := storetest.StartPostgres(t)
		f(t, database{kind: "postgres", dsn: pg.NewDatabase(t), pg: pg})
	})
}

func (db database) open(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// holdWrites takes the database's write lock from another connection, as a long transaction
// of another writer would, until release is called: the webhook's writer then waits inside
// its commit while deliveries queue up behind it.
func (db database) holdWrites(t *testing.T) (release func()) {
	t.Helper()
	ctx := context.Background()
	switch db.kind {
	case "sqlite":
		sdb, err := sql.Open("sqlite", "file:"+db.dsn+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		conn, err := sdb.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
		return func() {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
			_ = conn.Close()
			_ = sdb.Close()
		}
	default:
		conn, err := pgx.Connect(ctx, db.dsn)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range []string{"BEGIN", "LOCK TABLE events IN EXCLUSIVE MODE"} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		return func() {
			_, _ = conn.Exec(ctx, "ROLLBACK")
			_ = conn.Close(ctx)
		}
	}
}

// gauge reads the value of the gauge name.
func (b *berth) gauge(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// event is one well-formed event as distribution sends it, for tests to spoil.
func event(id string) map[string]any {
	return map[string]any{
		"id": id, "timestamp": time.Now().UTC().Format(time.RFC3339Nano), "action": "push",
		"target": map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + strings.Repeat("a", 64),
			"size": 100, "length": 100, "repository": "lib/x", "tag": "t1", "url": "http://reg:5000/v2/lib/x/manifests/sha256:aaa",
			"references": []map[string]any{{"digest": "sha256:" + strings.Repeat("b", 64)}},
		},
		"request": map[string]any{"id": "r-1", "addr": "10.1.1.1:4000", "host": "reg:5000", "method": "PUT", "useragent": "docker/27.3.1 go/go1.22.7"},
		"actor":   map[string]any{"name": "alice"},
		"source":  map[string]any{"addr": "reg:5000", "instanceID": "i-1"},
	}
}

func marshal(evs ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"events": evs})
	if err != nil {
		panic(err)
	}
	return b
}

// set changes one field of e, addressed by its dotted JSON path.
func set(e map[string]any, path string, v any) map[string]any {
	parts := strings.Split(path, ".")
	m := e
	for _, p := range parts[:len(parts)-1] {
		m = m[p].(map[string]any)
	}
	m[parts[len(parts)-1]] = v
	return e
}

// TestWebhookRefusesInvalidEvents posts envelopes with one bad field each: every one is refused
// with 400 MALFORMED_ENVELOPE and nothing of it is stored.
func TestWebhookRefusesInvalidEvents(t *testing.T) {
	st := newStore(t)
	b := newBerth(t, st, events.Options{})
	web := httptest.NewServer(b.mux)
	t.Cleanup(web.Close)
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name, path string
		value      any
	}{
		{"unknown action", "action", "exfiltrate"},
		{"action with a NUL", "action", "push\x00"},
		{"NUL in id", "id", "ab\x00cd"},
		{"NUL in user agent", "request.useragent", "docker\x00"},
		{"NUL in actor", "actor.name", "al\x00ice"},
		{"NUL in media type", "target.mediaType", "application/json\x00"},
		{"8 KB id", "id", long(8192)},
		{"id over 256 bytes", "id", long(257)},
		{"repository over 255 bytes", "target.repository", long(256)},
		{"repository outside the grammar", "target.repository", "Lib/X"},
		{"repository with a double slash", "target.repository", "lib//x"},
		{"no repository", "target.repository", ""},
		{"tag outside the grammar", "target.tag", "-bad"},
		{"tag over 128 bytes", "target.tag", long(129)},
		{"digest outside the grammar", "target.digest", "sha256/abc"},
		{"digest over 255 bytes", "target.digest", "sha256:" + long(300)},
		{"reference not a digest", "target.references", []map[string]any{{"digest": "nope"}}},
		// The grammar alone let these through: each algorithm's length and alphabet count.
		{"sha256 too short", "target.digest", "sha256:zz"},
		{"sha256 of 63 hex", "target.digest", "sha256:" + strings.Repeat("a", 63)},
		{"sha256 in upper case", "target.digest", "sha256:" + strings.Repeat("A", 64)},
		{"sha512 of 64 hex", "target.digest", "sha512:" + strings.Repeat("c", 64)},
		{"unknown algorithm", "target.digest", "md5:abc"},
		{"unknown algorithm of 64 hex", "target.digest", "sha1:" + strings.Repeat("a", 64)},
		{"reference too short", "target.references", []map[string]any{{"digest": "sha256:zz"}}},
		{"reference of an unknown algorithm", "target.references", []map[string]any{{"digest": "md5:abc"}}},
		{"user agent over 1 KB", "request.useragent", long(1025)},
		{"actor over 256 bytes", "actor.name", long(257)},
		{"method not a method", "request.method", "put it"},
		{"negative size", "target.size", -1},
		{"timestamp before 2000", "timestamp", "1900-01-01T00:00:00Z"},
		{"timestamp past the store's range", "timestamp", "3000-01-01T00:00:00Z"},
		{"timestamp days ahead", "timestamp", time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)},
		{"timestamp not a time", "timestamp", "yesterday"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The bad event comes second: one bad event refuses the whole envelope.
			body := marshal(event("good-"+tc.name), set(event("bad-"+tc.name), tc.path, tc.value))
			code, eb := post(t, web.URL+"/events", events.EnvelopeMediaTypeV1, "", body)
			if code != http.StatusBadRequest || eb.Error.Code != api.CodeMalformedEnvelope {
				t.Errorf("got %d %s (%s), want 400 MALFORMED_ENVELOPE", code, eb.Error.Code, eb.Error.Message)
			}
			if len(eb.Error.Message) > 300 {
				t.Errorf("the message echoes too much: %d bytes", len(eb.Error.Message))
			}
		})
	}
	if n := count(t, st); n != 0 {
		t.Fatalf("%d events stored from refused envelopes", n)
	}
	// Every action distribution sends is taken, and events it sends without a tag (blobs,
	// manifest deletes), digest (repository deletes) or timestamp are fine.
	var ok []map[string]any
	for _, a := range []string{"push", "pull", "mount", "delete"} {
		ok = append(ok, set(event("ok-"+a), "action", a))
	}
	ok = append(ok, set(event("ok-blob"), "target.tag", ""), set(set(event("ok-repo-delete"), "target.digest", ""), "action", "delete"))
	noTime := event("ok-no-time")
	delete(noTime, "timestamp")
	ok = append(ok, noTime, set(event("ok-sha512"), "target.digest", "sha512:"+strings.Repeat("c", 128)))
	if code, eb := post(t, web.URL+"/events", events.EnvelopeMediaTypeV1, "", marshal(ok...)); code != http.StatusOK {
		t.Fatalf("distribution's own events: %d %+v", code, eb)
	}
	if n := count(t, st); n != len(ok) {
		t.Errorf("%d events stored, want %d", n, len(ok))
	}
}

// TestWebhookMetricLabelsAreBounded posts many events with distinct made-up actions, as an
// attacker (or a broken sender) would: /metrics must not grow a series for each.
func TestWebhookMetricLabelsAreBounded(t *testing.T) {
	st := newStore(t)
	b := newBerth(t, st, events.Options{})
	web := httptest.NewServer(b.mux)
	t.Cleanup(web.Close)
	const distinct = 500
	for i := range distinct {
		body := marshal(set(event(fmt.Sprint("id-", i)), "action", fmt.Sprintf("action-%d", i)))
		if code, _ := post(t, web.URL+"/events", "application/json", "", body); code != http.StatusBadRequest {
			t.Fatalf("made-up action %d: status %d, want 400", i, code)
		}
	}
	if code, _ := post(t, web.URL+"/events", "application/json", "", marshal(event("real"))); code != http.StatusOK {
		t.Fatalf("a real push: %d", code)
	}
	resp, err := http.Get(web.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	series := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "berth_events_") {
			series++
		}
		if strings.Contains(line, "action-") {
			t.Fatalf("a made-up action became a label: %s", line)
		}
	}
	// received{push,webhook}, rejected{malformed}, the plain counters and gauges, and the two
	// histograms' buckets: a few dozen, whatever was posted.
	if series > 60 {
		t.Errorf("%d berth_events_ series after %d distinct actions", series, distinct)
	}
	if got := b.metric(t, "berth_events_rejected_total"); got != distinct {
		t.Errorf("rejected = %v, want %d", got, distinct)
	}
}

// TestPoisonedDeliveryAmongGoodOnes sends many good deliveries at once with poisoned ones
// among them (a NUL byte, an 8 KB id: what PostgreSQL cannot store): every good delivery is
// stored and answered 200, the poisoned ones are refused with 400, never the 503 that makes the
// registry retry forever.
func TestPoisonedDeliveryAmongGoodOnes(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		st := db.open(t)
		b := newBerth(t, st, events.Options{})
		web := httptest.NewServer(b.mux)
		t.Cleanup(web.Close)
		poisons := map[string][]byte{
			"nul":    marshal(set(event("poison-nul"), "request.useragent", "x\x00y")),
			"8kb":    marshal(event("poison-" + noise(8192))),
			"mixed":  marshal(event("good-with-poison"), set(event("poison-in-envelope"), "id", "a\x00")),
			"digest": marshal(event("good-with-short-digest"), set(event("poison-digest"), "target.digest", "sha256:zz")),
		}
		const good = 60
		var wg sync.WaitGroup
		for i := range good {
			wg.Go(func() {
				if code, eb := post(t, web.URL+"/events", events.EnvelopeMediaTypeV1, "", envelope(fmt.Sprint("good-", i))); code != http.StatusOK {
					t.Errorf("good delivery %d: %d %+v", i, code, eb)
				}
			})
		}
		for name, body := range poisons {
			wg.Go(func() {
				code, eb := post(t, web.URL+"/events", events.EnvelopeMediaTypeV1, "", body)
				if code != http.StatusBadRequest || eb.Error.Code != api.CodeMalformedEnvelope {
					t.Errorf("poisoned delivery %s: %d %s, want 400 MALFORMED_ENVELOPE", name, code, eb.Error.Code)
				}
			})
		}
		wg.Wait()
		evs, err := st.Events(t.Context(), store.Filter{Limit: store.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != good {
			t.Errorf("%d events stored, want the %d good ones", len(evs), good)
		}
		for _, e := range evs {
			if !strings.HasPrefix(e.ID, "good-") || e.ID == "good-with-poison" || e.ID == "good-with-short-digest" {
				t.Errorf("stored %.40q", e.ID)
			}
		}
	})
}

// TestGroupCommitIsolatesARefusedDelivery makes good deliveries share one transaction with a
// delivery the store refuses (Record is also how the sync and write jobs store events, without
// the webhook's checks): the good ones must be committed, and only the bad one fail, as
// refused rather than as an outage.
func TestGroupCommitIsolatesARefusedDelivery(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		st := db.open(t)
		b := newBerth(t, st, events.Options{})
		ev := func(id string) []store.Event {
			return []store.Event{{ID: id, Timestamp: time.Now(), Action: "push", Repository: "lib/x", Tag: "t-" + id, Digest: "sha256:1", Source: store.SourceSync}}
		}
		poisons := map[string][]store.Event{"no id": ev("")}
		if db.kind == "postgres" {
			poisons["NUL"] = ev("nul\x00")
			poisons["8 KB id"] = ev(noise(8192))
		}
		for name, poison := range poisons {
			t.Run(name, func(t *testing.T) {
				release := db.holdWrites(t)
				defer release()
				// The first delivery holds the writer inside a commit; the rest queue up behind
				// it and are committed together once the lock is gone.
				results := make(chan error, 64)
				record := func(evs []store.Event) { results <- b.hook.Record(t.Context(), evs) }
				go record(ev(name + "-first"))
				waitFor(t, "the writer to wait for the lock", time.Minute, func() bool {
					return b.gauge(t, "berth_events_committing_deliveries") == 1
				})
				const good = 20
				var poisoned error
				done := make(chan struct{})
				go func() {
					poisoned = b.hook.Record(t.Context(), poison)
					close(done)
				}()
				for i := range good {
					go record(ev(fmt.Sprintf("%s-good-%d", name, i)))
				}
				waitFor(t, "every delivery queued", time.Minute, func() bool {
					return b.gauge(t, "berth_events_queued_deliveries") == good+1
				})
				commitsBefore := b.metric(t, "berth_events_commits_total")
				release()
				for range good + 1 {
					if err := <-results; err != nil {
						t.Errorf("a good delivery failed: %v", err)
					}
				}
				<-done
				if !errors.Is(poisoned, store.ErrRejected) {
					t.Errorf("the poisoned delivery: %v, want ErrRejected", poisoned)
				}
				evs, err := st.Events(t.Context(), store.Filter{Limit: store.MaxLimit})
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, e := range evs {
					if strings.HasPrefix(e.ID, name+"-") {
						n++
					}
				}
				if n != good+1 {
					t.Errorf("%d of the %d good events stored", n, good+1)
				}
				// Bisecting costs a few commits, not one per delivery.
				if c := b.metric(t, "berth_events_commits_total") - commitsBefore; c > 8 {
					t.Errorf("%v commits for %d deliveries", c, good+2)
				}
			})
		}
	})
}

// TestWebhookStoreDownIs503 stops the database under a running webhook: that outage, and only
// that, is answered 503 STORE_UNAVAILABLE, which the registry retries.
func TestWebhookStoreDownIs503(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		st := db.open(t)
		b := newBerth(t, st, events.Options{}) // the default commit timeout: a loaded machine may take seconds for "before"
		web := httptest.NewServer(b.mux)
		t.Cleanup(web.Close)
		if code, _ := post(t, web.URL+"/events", "application/json", "", envelope("before")); code != http.StatusOK {
			t.Fatalf("with the store up: %d", code)
		}
		if db.pg != nil {
			db.pg.Stop(t)
		} else if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		code, eb := post(t, web.URL+"/events", "application/json", "", envelope("during"))
		if code != http.StatusServiceUnavailable || eb.Error.Code != api.CodeStoreUnavailable {
			t.Errorf("with the store down: %d %s, want 503 STORE_UNAVAILABLE", code, eb.Error.Code)
		}
		if strings.Contains(eb.Error.Message, "sql") || strings.Contains(eb.Error.Message, "postgres") {
			t.Errorf("the message leaks the store's error: %q", eb.Error.Message)
		}
	})
}

// TestStalledBodyIsCutOff declares a 1000-byte envelope, sends 11 bytes and stalls, over a raw
// loopback connection: the webhook must give up after its read timeout and answer, instead of
// holding the connection forever.
func TestStalledBodyIsCutOff(t *testing.T) {
	st := newStore(t)
	b := newBerth(t, st, events.Options{ReadTimeout: 300 * time.Millisecond})
	// The server as Berth runs it: a header timeout only, no overall read timeout.
	srv := httptest.NewUnstartedServer(b.mux)
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Start()
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /events HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"events\":[")
	// Far longer than the read timeout; the old webhook waited until this ran out.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body after %s: %v", time.Since(start), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d %s, want 400", resp.StatusCode, body)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("answered after %s", took)
	}
	if n := count(t, st); n != 0 {
		t.Errorf("%d events stored", n)
	}
}

// noise returns n hex digits that do not compress, as a random id would not: PostgreSQL
// compresses index entries, so a repeated letter fits where these do not.
func noise(n int) string {
	var b strings.Builder
	x := uint64(n)
	for b.Len() < n {
		x = x*6364136223846793005 + 1442695040888963407
		fmt.Fprintf(&b, "%016x", x)
	}
	return b.String()[:n]
}

// TestActivityAPIStoreDown stops the database under the read API: the activity feed and the
// statistics answer 503 STORE_UNAVAILABLE as JSON, not a bare 500.
func TestActivityAPIStoreDown(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		st := db.open(t)
		b := newBerth(t, st, events.Options{})
		web := httptest.NewServer(b.mux)
		t.Cleanup(web.Close)
		paths := []string{"/api/v1/events", "/api/v1/stats?range=7d", "/api/v1/stats/lib/x?range=24h"}
		get := func(path string) (int, api.ErrorBody, string) {
			t.Helper()
			resp, err := http.Get(web.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var eb api.ErrorBody
			_ = json.Unmarshal(raw, &eb)
			return resp.StatusCode, eb, resp.Header.Get("Content-Type")
		}
		for _, p := range paths {
			if code, eb, _ := get(p); code != http.StatusOK {
				t.Fatalf("%s with the store up: %d %+v", p, code, eb)
			}
		}
		if db.pg != nil {
			db.pg.Stop(t)
		} else if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			code, eb, ct := get(p)
			if code != http.StatusServiceUnavailable || eb.Error.Code != api.CodeStoreUnavailable || !strings.HasPrefix(ct, "application/json") {
				t.Errorf("%s with the store down: %d %s (%s), want 503 STORE_UNAVAILABLE as JSON", p, code, eb.Error.Code, ct)
			}
		}
	})
}
