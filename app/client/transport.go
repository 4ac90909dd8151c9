package client

import (
	"io"
	"strconv"
)

// request is one HTTP request the client sends. The browser build sends it with the fetch
// API directly (transport_js.go): going through net/http's client would link its whole
// transport, TLS and certificate code into app.wasm, which never uses them.
type request struct {
	method, url string
	header      map[string]string
	body        []byte
}

// response is the answer to a request; its body must be closed.
type response struct {
	status     int
	statusText string
	header     func(name string) string
	body       io.ReadCloser
}

// Status is the status line as net/http writes it, such as "404 Not Found".
func (r *response) Status() string {
	if r.statusText == "" {
		return strconv.Itoa(r.status)
	}
	return strconv.Itoa(r.status) + " " + r.statusText
}
