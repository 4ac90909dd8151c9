package replication

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/proctest"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

// replicaEnv carries a harnessSpec to TestHelperReplica.
const replicaEnv = "BERTH_REPLICATION_REPLICA"

// TestHelperReplica is not a test: re-executed with BERTH_REPLICATION_REPLICA set, it is a
// replica that saves the rule "slow" (src → dst), starts a run, prints its id and works on
// it until killed.
func TestHelperReplica(t *testing.T) {
	raw := os.Getenv(replicaEnv)
	if raw == "" {
		t.Skip("helper process for TestRunOfAKilledReplicaFinishesOnAnother")
	}
	var spec harnessSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, spec)
	rule := h.rule(t, api.ReplicationRule{Name: "slow", Source: "src", Destination: "dst", Repositories: "lib/big", Trigger: api.TriggerManual})
	run, err := h.s.Start(h.ctx, rule.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("run " + run.ID)
	select {}
}

// TestRunOfAKilledReplicaFinishesOnAnother: a replica copying four images one at a time at
// 1 MiB/s (--replication-bandwidth) is killed (SIGKILL) after the first; once the lease has
// lapsed (the clock is moved rather than waited for) another replica's River takes the job
// over, and the run it records, started back then, ends with every image at the destination,
// the killed replica's copies found up to date rather than sent again.
func TestRunOfAKilledReplicaFinishesOnAnother(t *testing.T) {
	if os.Getenv(replicaEnv) != "" {
		t.Skip("in the helper process")
	}
	src, dst := registrytest.Distribution3(t), registrytest.Distribution3(t)
	var tags []string
	for i := range 4 {
		tags = append(tags, fmt.Sprint(i))
		pushImageOf(t, src.URL, "lib/big:"+tags[i], 1<<20)
	}
	spec := harnessSpec{DB: filepath.Join(t.TempDir(), "berth.db"), Main: registrytest.Open(t),
		Flags: []string{"src=" + src.URL, "dst=" + dst.URL}, Bandwidth: 1 << 20, Concurrency: 1}
	raw, _ := json.Marshal(spec)
	id, proc := proctest.Start(t, "TestHelperReplica", replicaEnv, string(raw), "run ")

	st, err := store.OpenSQLite(t.Context(), spec.DB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		run := runOf(t, st, id)
		if run.State != api.RunQueued && run.State != api.RunRunning {
			t.Fatalf("the run ended before its replica was killed: %+v", run)
		}
		if run.Copied >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run copied nothing in a minute: %+v", run)
		}
	}
	if err := proc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = proc.Wait()
	before := runOf(t, st, id)
	lapse(t, st)

	spec.Bandwidth = 0 // the other replica is not held back
	other := newHarnessOn(t, spec)
	run := other.wait(t, id)
	if run.State != api.RunSucceeded || !run.Started.Equal(before.Started) {
		t.Fatalf("after the kill: %+v (started %s before)", run, before.Started)
	}
	if run.Copied+run.Skipped != 4 || run.Skipped < 1 {
		t.Errorf("the resumed run copied %d and found %d up to date; want the killed replica's copies up to date", run.Copied, run.Skipped)
	}
	for _, tag := range tags {
		if got, want := digestOf(t, dst.URL, "lib/big:"+tag), digestOf(t, src.URL, "lib/big:"+tag); got != want || got == "" {
			t.Errorf("lib/big:%s at the destination is %q, want %q", tag, got, want)
		}
	}
}

// runOf reads run id's record from the store.
func runOf(t testing.TB, st store.Store, id string) api.ReplicationRun {
	t.Helper()
	reps, err := store.ReplicationsOf(st)
	if err != nil {
		t.Fatal(err)
	}
	var r api.ReplicationRun
	row, ok, err := reps.Run(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		if err := json.Unmarshal(row.Data, &r); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// lapse moves the store's clock as time would pass before another replica's River acts: the
// running jobs' leases lapsed, the dead replica's term as leader over.
func lapse(t testing.TB, st store.Store) {
	t.Helper()
	db := st.Backend().SQLite
	if _, err := db.ExecContext(t.Context(), `UPDATE river_job SET attempted_at = strftime('%Y-%m-%d %H:%M:%f', attempted_at, '-2 minutes') WHERE state = 'running'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `UPDATE river_leader SET elected_at = strftime('%Y-%m-%d %H:%M:%f', elected_at, '-2 minutes'), expires_at = strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 second')`); err != nil {
		t.Fatal(err)
	}
}
