//go:build !(js && wasm)

package client

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// send sends r with net/http (tests and tools outside the browser).
func send(ctx context.Context, r request) (*response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	return &response{
		status:     resp.StatusCode,
		statusText: strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode))),
		header:     resp.Header.Get,
		body:       resp.Body,
	}, nil
}
