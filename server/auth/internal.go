package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
)

// InternalHeader marks Berth's own requests to the registry it fronts (its service tokens'
// requests, and its reads on users' behalf for the UI) with a secret made per process, for
// policies Berth enforces in front of the embedded registry (pull policies) to let them
// through. Requests Berth's /v2 proxy forwards for clients never carry it.
const InternalHeader = "Berth-Internal"

var (
	internalOnce   sync.Once
	internalSecret string
)

func secret() string {
	internalOnce.Do(func() {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		internalSecret = hex.EncodeToString(b)
	})
	return internalSecret
}

// MarkInternal marks h as one of Berth's own requests.
func MarkInternal(h http.Header) { h.Set(InternalHeader, secret()) }

// IsInternal says r carries this process's mark.
func IsInternal(r *http.Request) bool {
	got := r.Header.Get(InternalHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(secret())) == 1
}
