package ops

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// IdempotencyHeader names the key a client sends with POST /api/v1/jobs so that it can retry
// the request safely: the same key from the same user starts one job, on whichever replica.
const IdempotencyHeader = "Idempotency-Key"

// maxIdempotencyKey bounds a key; a UUID is 36 characters.
const maxIdempotencyKey = 255

// checkKey refuses a key that is too long or not printable ASCII.
func checkKey(key string) error {
	if len(key) > maxIdempotencyKey {
		return badRequest("The Idempotency-Key header is longer than 255 characters.")
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return badRequest("The Idempotency-Key header must be printable ASCII.")
		}
	}
	return nil
}

// keyTag is the River tag (and unique argument) of the job a user started with key: a hash,
// since tags allow few characters and the key is the client's.
func keyTag(user, key string) string {
	h := sha256.Sum256([]byte(user + "\x00" + key))
	return "k_" + hex.EncodeToString(h[:16])
}

// allStates makes a keyed job unique whatever became of it, until the prune drops it after
// --jobs-retention: a retry of a finished or cancelled job answers that job.
var allStates = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStateCancelled,
	rivertype.JobStateCompleted, rivertype.JobStateDiscarded, rivertype.JobStatePending,
	rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}

// keyed returns the id of the job the user started with key, if there is one.
func (m *Manager) keyed(ctx context.Context, tag string, req api.JobRequest) (string, bool, error) {
	res, err := m.queue.JobList(ctx, river.NewJobListParams().Kinds(kindOp).TagsAny(tag).First(1))
	if err != nil {
		return "", false, storeError(err)
	}
	if len(res.Jobs) == 0 {
		return "", false, nil
	}
	id, err := sameRequest(res.Jobs[0], req)
	return id, err == nil, err
}

// sameRequest returns the id of row, a job started with the key req came with, or a conflict
// when that job was started for another request.
func sameRequest(row *rivertype.JobRow, req api.JobRequest) (string, error) {
	var args opArgs
	if err := json.Unmarshal(row.EncodedArgs, &args); err != nil {
		return "", storeError(err)
	}
	want, _ := json.Marshal(withoutPasswords(req))
	had, _ := json.Marshal(args.Request)
	if !bytes.Equal(want, had) {
		return "", httperr.New(api.CodeConflict, "This Idempotency-Key was used for a different job request; use a new key for a new request.")
	}
	return strconv.FormatInt(row.ID, 10), nil
}

// withoutPasswords is req as a job's arguments keep it.
func withoutPasswords(req api.JobRequest) api.JobRequest {
	req.SourcePassword, req.DestinationPassword = "", ""
	return req
}
