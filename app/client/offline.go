package client

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/app/api"
)

// The connectivity signal: every request records here whether the server answered, and the
// UI watches it (Watch) for its offline banner. Nothing else says whether Berth is online.

// Connectivity is whether the UI reaches Berth's server, and how old the data it shows
// instead is when it does not.
type Connectivity struct {
	// Offline is true after a request failed to reach the server, until one reaches it.
	Offline bool
	// DataFrom is when the oldest response shown while offline was stored; zero when none.
	DataFrom time.Time
	// RegistryDown and StoreDown say that Berth answers but its registry or its database
	// does not (an error answer, or /healthz/deps).
	RegistryDown, StoreDown bool
}

// maxStored bounds one stored response; larger ones (huge tag lists) are not kept offline.
const maxStored = 1 << 20

var conn struct {
	sync.Mutex
	state    Connectivity
	watchers map[int]func(Connectivity)
	next     int
}

// Status reports the current connectivity.
func Status() Connectivity {
	conn.Lock()
	defer conn.Unlock()
	return conn.state
}

// Watch calls fn, on the caller's goroutine of the request that caused it, whenever the
// connectivity (or what Berth says of its dependencies) changes; the returned func stops that.
func Watch(fn func(Connectivity)) (stop func()) {
	conn.Lock()
	defer conn.Unlock()
	if conn.watchers == nil {
		conn.watchers = map[int]func(Connectivity){}
	}
	id := conn.next
	conn.next++
	conn.watchers[id] = fn
	return func() {
		conn.Lock()
		defer conn.Unlock()
		delete(conn.watchers, id)
	}
}

// setStatus records whether the server answered and, when a stored response stood in for it,
// that response's time.
func setStatus(offline bool, storedAt time.Time) {
	update(func(next *Connectivity) {
		next.Offline = offline
		switch {
		case !offline:
			next.DataFrom = time.Time{}
		case !storedAt.IsZero() && (next.DataFrom.IsZero() || storedAt.Before(next.DataFrom)):
			next.DataFrom = storedAt
		}
	})
}

// setDependencies records whether Berth's registry and database answer it.
func setDependencies(registryDown, storeDown bool) {
	update(func(next *Connectivity) { next.RegistryDown, next.StoreDown = registryDown, storeDown })
}

// update changes the connectivity with change and tells the watchers if it changed.
func update(change func(*Connectivity)) {
	conn.Lock()
	next := conn.state
	change(&next)
	changed := next != conn.state
	conn.state = next
	var fns []func(Connectivity)
	if changed {
		for _, fn := range conn.watchers {
			fns = append(fns, fn)
		}
	}
	conn.Unlock()
	for _, fn := range fns {
		fn(next)
	}
}

// storable reports whether the answer to a request may be kept for offline use: reads of
// /api/v1 only, never the session (who is signed in) or the account pages (tokens, robots,
// users, audit: nothing of access control is kept in the browser).
func storable(method, path string) bool {
	if method != http.MethodGet || !strings.HasPrefix(path, "/api/v1/") && !strings.HasPrefix(path, "/v2/") {
		return false
	}
	for _, p := range accountPaths {
		if strings.HasPrefix(path, p) {
			return false
		}
	}
	return true
}

// accountPaths are the /api/v1 reads never kept offline.
var accountPaths = []string{
	"/api/v1/session", "/api/v1/users", "/api/v1/teams", "/api/v1/namespaces", "/api/v1/tokens",
	"/api/v1/audit", "/api/v1/access",
}

// storedResponse is how a response is kept in the browser's localStorage.
type storedResponse struct {
	At   time.Time       `json:"at"`
	Body json.RawMessage `json:"body,omitempty"`
	// Rows is a tag page as it came, in rows (api.TagRowsType), instead of Body.
	Rows string `json:"rows,omitempty"`
}

// rowsDecoder is an answer that may come in rows (tagRows).
type rowsDecoder interface {
	decodeAs(mediaType string, data []byte) (bool, error)
}

// rememberRows stores a tag page that came in rows, as it came: encoding it as JSON would
// cost the wasm app what rows save.
func rememberRows(method, base, path string, rows []byte) {
	if !storable(method, path) || len(rows) > maxStored {
		return
	}
	if b, err := json.Marshal(storedResponse{At: time.Now(), Rows: string(rows)}); err == nil {
		storage.Set(storageKey(base, path), string(b))
	}
}

// keyValues is where answers are kept: the browser's localStorage (storage_wasm.go).
type keyValues interface {
	Set(key, value string)
	Get(key string) (string, bool)
	// Delete removes every key starting with prefix.
	Delete(prefix string)
}

// Saved answers live under storageKeyPrefix + the signed-in user + "|" + base + path, so one
// user never sees another's pages offline; ownerKey names the user the browser last knew
// (only the name: no secret is kept in the browser).
const (
	storageKeyPrefix = "berth.api:"
	ownerKey         = "berth.owner"
)

var zeroTime time.Time

// owner is the user whose answers are saved and recalled ("" for nobody signed in).
var owner struct {
	sync.Mutex
	name   string
	loaded bool
}

// currentOwner returns the user the saved answers belong to, as the browser last knew it.
func currentOwner() string {
	owner.Lock()
	defer owner.Unlock()
	if !owner.loaded {
		owner.name, _ = storage.Get(ownerKey)
		owner.loaded = true
	}
	return owner.name
}

// SetUser records who is signed in, as the server just said. When that is someone else than
// the user the saved answers belong to — a sign-out, an expired session, another sign-in —
// every saved answer is dropped first.
func SetUser(user string) {
	if currentOwner() == user {
		return
	}
	ClearSaved()
	owner.Lock()
	owner.name, owner.loaded = user, true
	owner.Unlock()
	if user != "" {
		storage.Set(ownerKey, user)
	}
}

// ClearSaved removes every answer kept for offline use, whoever it belonged to (sign-out).
func ClearSaved() {
	storage.Delete(storageKeyPrefix)
	storage.Delete(ownerKey)
	owner.Lock()
	owner.name, owner.loaded = "", true
	owner.Unlock()
}

func storageKey(base, path string) string {
	return storageKeyPrefix + currentOwner() + "|" + base + path
}

// remember keeps a successful response body for offline use (in the browser only); base is
// the client's base URL, which with path makes the key.
func remember(method, base, path string, body []byte) {
	if !storable(method, path) || len(body) > maxStored || !json.Valid(body) {
		return
	}
	b, err := json.Marshal(storedResponse{At: time.Now(), Body: body})
	if err != nil {
		return
	}
	storage.Set(storageKey(base, path), string(b))
}

// Keep stores body, the answer to GET path that arrived some other way (in the page the
// server prerendered), for offline use as if c had fetched it.
func Keep(c Client, path string, body []byte) {
	if b, ok := c.(*Berth); ok {
		remember(http.MethodGet, b.Base, path, body)
	}
}

// recall decodes the stored response for base+path into into, and reports when it was
// stored; ok is false when there is none.
func recall(method, base, path string, into any) (at time.Time, ok bool) {
	if !storable(method, path) {
		return time.Time{}, false
	}
	s, found := storage.Get(storageKey(base, path))
	if !found {
		return time.Time{}, false
	}
	var sr storedResponse
	if json.Unmarshal([]byte(s), &sr) != nil {
		return time.Time{}, false
	}
	if sr.Rows != "" {
		d, ok := into.(rowsDecoder)
		if !ok {
			return time.Time{}, false
		}
		if done, err := d.decodeAs(api.TagRowsType, []byte(sr.Rows)); !done || err != nil {
			return time.Time{}, false
		}
		return sr.At, true
	}
	if json.Unmarshal(sr.Body, into) != nil {
		return time.Time{}, false
	}
	return sr.At, true
}

// unreachable reports whether an HTTP answer means Berth itself is not there: a gateway in
// front of it (nginx, a load balancer) answering 502/503/504 with something other than
// Berth's JSON error.
func unreachable(status int, body []byte) bool {
	if status != http.StatusBadGateway && status != http.StatusServiceUnavailable && status != http.StatusGatewayTimeout {
		return false
	}
	var eb api.ErrorBody
	return json.Unmarshal(body, &eb) != nil || eb.Error.Code == ""
}

// recallOffline marks the server unreachable and fills into with the stored answer to the
// request, reporting whether there was one.
func recallOffline(method, base, path string, into any) bool {
	at, ok := recall(method, base, path, into)
	setStatus(true, at)
	return ok
}
