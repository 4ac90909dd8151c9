package registry

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// uploadSessions watches one blob upload's requests for the upload session the registry
// opened, so an upload cut short (a cancelled job) can DELETE it instead of leaving it to
// the registry's purge (distribution keeps abandoned sessions for a week by default).
//
// Distribution signs the session's offset into the Location it hands out (_state) and
// answers only requests carrying the current one: 416 from 3, 404 from 2.8, which also has
// no way to ask for it afresh. So a cancel never cuts a PATCH: it ends the chunk early but
// cleanly, and the registry's answer carries the state the DELETE needs.
type uploadSessions struct {
	base http.RoundTripper
	repo name.Repository
	auth authn.Authenticator // for a token with delete, which DELETE of a session needs

	mu   sync.Mutex
	open map[string]uploadSession // by session path
}

type uploadSession struct {
	location      string
	authorization string
}

// patchGrace is how long a PATCH ended early by a cancel may take to be answered.
const patchGrace = 10 * time.Second

// RoundTrip implements http.RoundTripper. It sits under go-containerregistry's auth, so
// requests carry their Authorization already, which the abort reuses (see deleter).
func (u *uploadSessions) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.Contains(req.URL.Path, "/blobs/uploads/") {
		return u.base.RoundTrip(req)
	}
	if err := req.Context().Err(); err != nil {
		return nil, err // nothing more of an upload after a cancel, a PUT least of all
	}
	if req.Method == http.MethodPatch && req.Body != nil && req.Body != http.NoBody {
		return u.patch(req)
	}
	resp, err := u.base.RoundTrip(req)
	if err == nil {
		u.track(req, resp)
	}
	return resp, err
}

// patch sends a chunk whose body ends, rather than breaks, when the request's context is
// cancelled; the context's cancel then reaches the request only after patchGrace. A chunk
// ended so is answered, its session recorded, and the cancel returned.
func (u *uploadSessions) patch(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	var grace *time.Timer
	var mu sync.Mutex
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		grace = time.AfterFunc(patchGrace, cancelSend)
		mu.Unlock()
	})
	release := func() {
		stop()
		mu.Lock()
		if grace != nil {
			grace.Stop()
		}
		mu.Unlock()
		cancelSend()
	}
	out := req.Clone(sendCtx)
	out.Body = &endOnCancel{r: req.Body, ctx: ctx}
	out.ContentLength, out.GetBody = -1, nil // chunked, as docker push sends layers
	out.Header.Del("Content-Length")
	resp, err := u.base.RoundTrip(out)
	if err != nil {
		release()
		return nil, err
	}
	u.track(req, resp)
	if ctx.Err() != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		release()
		return nil, ctx.Err()
	}
	resp.Body = &releaseOnClose{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// track records the session a response opened or moved on, and forgets one completed.
func (u *uploadSessions) track(req *http.Request, resp *http.Response) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case (req.Method == http.MethodPost || req.Method == http.MethodPatch) && resp.StatusCode == http.StatusAccepted:
		if loc, err := req.URL.Parse(resp.Header.Get("Location")); err == nil && resp.Header.Get("Location") != "" {
			delete(u.open, req.URL.Path)
			u.open[loc.Path] = uploadSession{location: loc.String(), authorization: req.Header.Get("Authorization")}
		}
	case req.Method == http.MethodPut && resp.StatusCode == http.StatusCreated:
		delete(u.open, req.URL.Path)
	}
}

// endOnCancel reads r until ctx is cancelled, then ends as if r had.
type endOnCancel struct {
	r   io.ReadCloser
	ctx context.Context
}

func (e *endOnCancel) Close() error { return e.r.Close() }

func (e *endOnCancel) Read(p []byte) (int, error) {
	if e.ctx.Err() != nil {
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	if err != nil && e.ctx.Err() != nil {
		return n, io.EOF
	}
	return n, err
}

// releaseOnClose runs release once the response body is closed.
type releaseOnClose struct {
	io.ReadCloser
	release func()
}

func (r *releaseOnClose) Close() error {
	err := r.ReadCloser.Close()
	r.release()
	return err
}

// abort deletes the sessions an unfinished upload left open. Where a PATCH was cut short
// after all (the network, or past patchGrace), distribution 3 answers 416 to the stale
// state, and the session's status (GET) hands out a fresh one; 2.8 has no such way.
func (u *uploadSessions) abort(ctx context.Context) {
	u.mu.Lock()
	open := u.open
	u.open = map[string]uploadSession{}
	u.mu.Unlock()
	for _, s := range open {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		rt := u.deleter(dctx, s)
		location := s.location
		for try := range 6 {
			if try > 0 {
				// The cut PATCH may still be ending on the registry's side (it reads what
				// was in flight): give it a moment, then read the state it left.
				select {
				case <-dctx.Done():
				case <-time.After(time.Duration(100<<try) * time.Millisecond / 2):
				}
				_, loc := abortRequest(dctx, rt, http.MethodGet, strings.SplitN(s.location, "?", 2)[0])
				if loc == "" {
					break
				}
				location = loc
			}
			status, _ := abortRequest(dctx, rt, http.MethodDelete, location)
			if status != http.StatusRequestedRangeNotSatisfiable || dctx.Err() != nil {
				break
			}
		}
		cancel()
	}
}

// deleter is the transport the abort's requests go by. Distribution requires the delete
// action to DELETE an upload session, which the upload's own token lacks: where the registry
// uses tokens, one with delete is asked for; otherwise the upload's Authorization serves.
func (u *uploadSessions) deleter(ctx context.Context, s uploadSession) http.RoundTripper {
	if strings.HasPrefix(s.authorization, "Bearer ") && u.auth != nil {
		rt, err := transport.NewWithContext(ctx, u.repo.Registry, u.auth, u.base, []string{u.repo.Scope(transport.DeleteScope)})
		if err == nil {
			return rt
		}
	}
	return authorized{base: u.base, authorization: s.authorization}
}

// authorized sends requests with a fixed Authorization.
type authorized struct {
	base          http.RoundTripper
	authorization string
}

func (a authorized) RoundTrip(req *http.Request) (*http.Response, error) {
	if a.authorization != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", a.authorization)
	}
	return a.base.RoundTrip(req)
}

// abortRequest makes one request of the abort and returns the status and the resolved Location.
func abortRequest(ctx context.Context, rt http.RoundTripper, method, target string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return 0, ""
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	loc := ""
	if l, err := req.URL.Parse(resp.Header.Get("Location")); err == nil && resp.Header.Get("Location") != "" {
		loc = l.String()
	}
	return resp.StatusCode, loc
}
