//go:build js && wasm

package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"syscall/js"
)

// send sends r with the browser's fetch, aborted when ctx ends.
func send(ctx context.Context, r request) (*response, error) {
	if resp, ok := prefetched(ctx, r); ok {
		return resp, nil
	}
	abort := js.Global().Get("AbortController").New()
	opts := js.Global().Get("Object").New()
	opts.Set("method", r.method)
	headers := js.Global().Get("Headers").New()
	for k, v := range r.header {
		headers.Call("set", k, v)
	}
	opts.Set("headers", headers)
	opts.Set("signal", abort.Get("signal"))
	if r.body != nil {
		b := js.Global().Get("Uint8Array").New(len(r.body))
		js.CopyBytesToJS(b, r.body)
		opts.Set("body", b)
	}
	resp, err := await(ctx, abort, js.Global().Call("fetch", r.url, opts))
	if err != nil {
		return nil, err
	}
	out := jsResponse(resp, io.NopCloser(eofReader{}))
	if b := resp.Get("body"); b.Truthy() {
		out.body = &streamBody{ctx: ctx, abort: abort, reader: b.Call("getReader")}
	}
	return out, nil
}

// await waits for a promise; when ctx ends first, the request is aborted.
func await(ctx context.Context, abort, promise js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	resolve := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: args[0]}
		return nil
	})
	reject := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{err: errors.New(args[0].Call("toString").String())}
		return nil
	})
	// The callbacks are released only once called: the promise settles soon after an abort.
	defer resolve.Release()
	defer reject.Release()
	promise.Call("then", resolve, reject)
	select {
	case res := <-done:
		wakeSoon()
		return res.v, res.err
	case <-ctx.Done():
		abort.Call("abort")
		<-done
		return js.Undefined(), ctx.Err()
	}
}

// wake is a browser callback that does nothing: being called resumes the Go runtime.
var (
	wakeOnce sync.Once
	wake     js.Func
)

// wakeSoon resumes the Go runtime shortly after an answer arrived. What the answer changes is
// dispatched to go-app, which draws it on its next frame, a Go timer; but a goroutine resumed
// by a promise callback can set that timer after the runtime told the browser when to wake it
// next, and the change then waited for an unrelated event (a job view stayed "running", a
// form's navigation did not happen, for a minute or more). Browser timeouts just past the
// frame, and later for slow decodes, wake it; a slow interval is the net under everything else.
func wakeSoon() {
	wakeOnce.Do(func() {
		wake = js.FuncOf(func(js.Value, []js.Value) any { return nil })
		js.Global().Call("setInterval", wake, 1000)
	})
	js.Global().Call("setTimeout", wake, 40)
	js.Global().Call("setTimeout", wake, 200)
}

// streamBody reads a fetch response body as it arrives (job event streams never end
// before their job does).
type streamBody struct {
	ctx    context.Context
	abort  js.Value
	reader js.Value
	buf    []byte
	eof    bool
}

func (b *streamBody) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		if b.eof {
			return 0, io.EOF
		}
		chunk, err := await(b.ctx, b.abort, b.reader.Call("read"))
		if err != nil {
			return 0, err
		}
		if chunk.Get("done").Bool() {
			b.eof = true
			continue
		}
		v := chunk.Get("value")
		b.buf = make([]byte, v.Get("length").Int())
		js.CopyBytesToGo(b.buf, v)
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func (b *streamBody) Close() error {
	if !b.eof {
		b.abort.Call("abort") // stops the download; the reader's promises settle as aborted
	}
	return nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// prefetched returns the answer to r that the page asked for while app.wasm loaded
// (web/early.js, from the page's seed), claiming it: a GET of the same path with the same
// Accept header, which has not failed. Otherwise ok is false and r is sent as usual.
func prefetched(ctx context.Context, r request) (*response, bool) {
	m := js.Global().Get("berthPrefetch")
	if r.method != "GET" || r.body != nil || r.header["Authorization"] != "" || !m.Truthy() {
		return nil, false
	}
	e := m.Call("get", r.url)
	if !e.Truthy() || e.Get("accept").String() != r.header["Accept"] {
		return nil, false
	}
	m.Call("delete", r.url)
	v, err := await(ctx, e.Get("ctl"), e.Get("got"))
	if err != nil || !v.Truthy() {
		return nil, false
	}
	body := make([]byte, v.Get("body").Get("length").Int())
	js.CopyBytesToGo(body, v.Get("body"))
	return jsResponse(v, io.NopCloser(bytes.NewReader(body))), true
}

// jsResponse is a response from r's status, statusText and headers (a fetch Response, or
// the prefetch's record of one) with body.
func jsResponse(r js.Value, body io.ReadCloser) *response {
	h := r.Get("headers")
	return &response{
		status:     r.Get("status").Int(),
		statusText: r.Get("statusText").String(),
		header: func(name string) string {
			if v := h.Call("get", name); v.Type() == js.TypeString {
				return v.String()
			}
			return ""
		},
		body: body,
	}
}
