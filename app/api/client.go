package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Error is an /api error as the UI shows it.
type Error struct {
	// Status is the HTTP status; 0 when the server could not be reached at all.
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Offline reports whether err means Berth's server could not be reached.
func Offline(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == 0
}

// Client calls Berth's /api/v1. The zero value uses relative URLs, which in the browser go to
// the server that served the UI.
type Client struct {
	// Base is prepended to every path, e.g. https://berth.example.com; empty for same-origin.
	Base string
	// HTTP is the client to use; nil means http.DefaultClient.
	HTTP *http.Client
	// Direct reads a registry's /v2 at Base instead of Berth's /api/v1 (see direct.go).
	Direct bool
}

// Repositories returns a page of the catalog, filtered by query.
func (c Client) Repositories(ctx context.Context, query string, offset, limit int) (RepositoryPage, error) {
	if c.Direct {
		return c.directRepositories(ctx, query, offset, limit)
	}
	v := url.Values{}
	if query != "" {
		v.Set("q", query)
	}
	v.Set("offset", strconv.Itoa(offset))
	v.Set("limit", strconv.Itoa(limit))
	var p RepositoryPage
	err := c.get(ctx, "/api/v1/repositories?"+v.Encode(), &p)
	return p, err
}

// Tags returns a page of a repository's tags with their details.
func (c Client) Tags(ctx context.Context, repository string, offset, limit int) (TagPage, error) {
	if c.Direct {
		return c.directTags(ctx, repository, offset, limit, true)
	}
	v := url.Values{}
	v.Set("offset", strconv.Itoa(offset))
	v.Set("limit", strconv.Itoa(limit))
	var p TagPage
	err := c.get(ctx, "/api/v1/repositories/"+escapePath(repository)+"/tags?"+v.Encode(), &p)
	return p, err
}

// Usage returns what a repository stores, shared blobs counted once, and, with del set to a
// manifest digest, what deleting it would free.
func (c Client) Usage(ctx context.Context, repository, del string) (Usage, error) {
	path := "/api/v1/repositories/" + escapePath(repository) + "/usage"
	if del != "" {
		path += "?delete=" + url.QueryEscape(del)
	}
	var u Usage
	err := c.get(ctx, path, &u)
	return u, err
}

// TagNames returns every tag of a repository, without details.
func (c Client) TagNames(ctx context.Context, repository string) (TagPage, error) {
	if c.Direct {
		return c.directTags(ctx, repository, 0, 1<<30, false)
	}
	var p TagPage
	err := c.get(ctx, "/api/v1/repositories/"+escapePath(repository)+"/tags?details=false", &p)
	return p, err
}

// Manifest returns one manifest in depth; reference is a tag or a digest.
func (c Client) Manifest(ctx context.Context, repository, reference string) (Manifest, error) {
	if c.Direct {
		return Manifest{}, &Error{Status: http.StatusNotImplemented, Code: "DIRECT_MODE", Message: "Manifest details need a Berth server; this UI reads the registry directly."}
	}
	var m Manifest
	err := c.get(ctx, "/api/v1/repositories/"+escapePath(repository)+"/manifests/"+url.PathEscape(reference), &m)
	return m, err
}

// escapePath escapes each segment of a repository name but keeps its slashes.
func escapePath(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// Session returns who is signed in.
func (c Client) Session(ctx context.Context) (Session, error) {
	if c.Direct {
		return Session{}, nil // no sessions without Berth
	}
	var s Session
	err := c.do(ctx, http.MethodGet, "/api/v1/session", nil, &s)
	return s, err
}

// SignIn checks the credentials against the registry and starts a session.
func (c Client) SignIn(ctx context.Context, username, password string) (Session, error) {
	var s Session
	err := c.do(ctx, http.MethodPost, "/api/v1/session", SignIn{Username: username, Password: password}, &s)
	return s, err
}

// SignOut ends the session.
func (c Client) SignOut(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/session", nil, &Session{})
}

// Unauthorized reports whether err means the registry wants credentials.
func Unauthorized(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusUnauthorized
}

func (c Client) get(ctx context.Context, path string, into any) error {
	return c.do(ctx, http.MethodGet, path, nil, into)
}

func (c Client) do(ctx context.Context, method, path string, body, into any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return &Error{Code: "BAD_REQUEST", Message: err.Error()}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return &Error{Code: "BAD_REQUEST", Message: err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c.recall(method, path, into) { // offline: the last answer stored, if any
			return nil
		}
		return &Error{Code: "OFFLINE", Message: "Cannot reach the Berth server. Check your connection and try again."}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &Error{Code: "OFFLINE", Message: "The connection to the Berth server broke: " + err.Error()}
	}
	if c.reached(method, path, resp.StatusCode, data, into) { // a gateway says Berth is down
		return nil
	}
	if resp.StatusCode >= 400 {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
			return &Error{Status: resp.StatusCode, Code: string(eb.Error.Code), Message: eb.Error.Message}
		}
		return &Error{Status: resp.StatusCode, Code: "HTTP_" + strconv.Itoa(resp.StatusCode), Message: fmt.Sprintf("The server answered %s.", resp.Status)}
	}
	if err := json.Unmarshal(data, into); err != nil {
		return &Error{Status: resp.StatusCode, Code: "BAD_RESPONSE", Message: "The server sent a response the UI cannot read: " + err.Error()}
	}
	remember(method, c.Base+path, path, data)
	return nil
}
