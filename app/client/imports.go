package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/berth-registry/berth/app/api"
)

// Archive is a docker save or OCI-layout tarball (gzip-compressed or not) to import.
type Archive interface {
	// Size is the archive's length in bytes, as uploaded.
	Size() int64
}

// ReaderArchive is an archive read from R, N bytes long.
type ReaderArchive struct {
	R io.Reader
	N int64
}

// Size implements Archive.
func (a ReaderArchive) Size() int64 { return a.N }

// importPath is POST /api/v1/imports for repository and, if set, tag.
func importPath(repository, tag string) string {
	v := url.Values{"repository": {repository}}
	if tag != "" {
		v.Set("tag", tag)
	}
	return "/api/v1/imports?" + v.Encode()
}

func (c *Berth) Import(ctx context.Context, repository, tag string, a Archive, progress func(sent, total int64)) (string, error) {
	return c.upload(ctx, importPath(repository, tag), a, progress)
}

// post sends a ReaderArchive (an archive already in memory or a stream, outside the browser's
// file picker) through the client's one transport. The body is read whole first: the fetch
// transport takes bytes, and files from the picker go through XHR with real upload progress.
func (c *Berth) post(ctx context.Context, path string, a ReaderArchive, progress func(sent, total int64)) (string, error) {
	body, err := io.ReadAll(io.LimitReader(a.R, a.N+1))
	if err != nil {
		return "", &api.Error{Code: api.CodeBadRequest, Message: "The archive cannot be read: " + err.Error()}
	}
	if progress != nil {
		progress(0, int64(len(body)))
	}
	header := map[string]string{"Content-Type": "application/x-tar", "Accept": "application/json"}
	if token := bearerToken(); token != "" {
		header["Authorization"] = "Bearer " + token
	}
	resp, err := send(ctx, request{method: http.MethodPost, url: c.Base + path, header: header, body: body})
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", &api.Error{Code: api.CodeOffline, Message: "The upload did not reach the Berth server: " + err.Error()}
	}
	defer resp.body.Close()
	if progress != nil {
		progress(int64(len(body)), int64(len(body)))
	}
	data, err := io.ReadAll(io.LimitReader(resp.body, 1<<20))
	if err != nil {
		return "", &api.Error{Code: api.CodeOffline, Message: "The connection to the Berth server broke: " + err.Error()}
	}
	return importAnswer(resp.status, resp.Status(), data)
}

// importAnswer reads POST /api/v1/imports' answer: 202 with the job id, or an error.
func importAnswer(status int, statusText string, data []byte) (string, error) {
	if status >= 400 || status == 0 {
		return "", errorFrom(&response{status: status, statusText: statusText}, data)
	}
	var s api.JobStarted
	if err := json.Unmarshal(data, &s); err != nil || s.ID == "" {
		return "", &api.Error{Status: status, Code: api.CodeBadResponse, Message: "The server sent a response the UI cannot read."}
	}
	return s.ID, nil
}

// countingReader reports how much of an upload has been read.
type countingReader struct {
	r        io.Reader
	n        atomic.Int64
	total    int64
	progress func(sent, total int64)
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 && r.progress != nil {
		r.progress(r.n.Add(int64(n)), r.total)
	}
	return n, err
}

func (c *Direct) Import(context.Context, string, string, Archive, func(int64, int64)) (string, error) {
	return "", errDirect("Imports")
}
