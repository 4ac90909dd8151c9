//go:build js && wasm

package client

import (
	"context"
	"syscall/js"

	"github.com/berth-registry/berth/app/api"
)

// BrowserFile is a File the user picked or dropped. It is sent by XMLHttpRequest, the one
// browser API that reports upload progress (fetch, which net/http uses in the browser,
// does not), straight from the browser's file: the archive never passes through wasm memory.
type BrowserFile struct{ file js.Value }

// Size implements Archive.
func (f BrowserFile) Size() int64 { return int64(f.file.Get("size").Float()) }

// FileInput returns the file chosen in the file input with the given id, and its name.
func FileInput(id string) (a Archive, name string, ok bool) {
	el := js.Global().Get("document").Call("getElementById", id)
	if !el.Truthy() {
		return nil, "", false
	}
	files := el.Get("files")
	if !files.Truthy() || files.Get("length").Int() == 0 {
		return nil, "", false
	}
	f := files.Index(0)
	return BrowserFile{file: f}, f.Get("name").String(), true
}

func (c *Berth) upload(ctx context.Context, path string, a Archive, progress func(sent, total int64)) (string, error) {
	f, ok := a.(BrowserFile)
	if !ok {
		ra, ok := a.(ReaderArchive)
		if !ok {
			return "", &api.Error{Code: api.CodeBadRequest, Message: "Nothing to upload."}
		}
		return c.post(ctx, path, ra, progress)
	}
	type answer struct {
		status     int
		statusText string
		body       string
	}
	done := make(chan answer, 1)
	finish := func(a answer) {
		select {
		case done <- a:
		default:
		}
	}
	xhr := js.Global().Get("XMLHttpRequest").New()
	var funcs []js.Func
	defer func() {
		for _, fn := range funcs {
			fn.Release()
		}
	}()
	on := func(target js.Value, event string, fn func(e js.Value)) {
		jf := js.FuncOf(func(this js.Value, args []js.Value) any {
			fn(args[0])
			return nil
		})
		funcs = append(funcs, jf)
		target.Call("addEventListener", event, jf)
	}
	on(xhr.Get("upload"), "progress", func(e js.Value) {
		if progress != nil && e.Get("lengthComputable").Bool() {
			progress(int64(e.Get("loaded").Float()), int64(e.Get("total").Float()))
		}
	})
	on(xhr, "load", func(js.Value) {
		finish(answer{xhr.Get("status").Int(), xhr.Get("statusText").String(), xhr.Get("responseText").String()})
	})
	on(xhr, "error", func(js.Value) { finish(answer{}) })
	on(xhr, "abort", func(js.Value) { finish(answer{}) })
	xhr.Call("open", "POST", c.Base+path)
	xhr.Call("setRequestHeader", "Content-Type", "application/x-tar")
	xhr.Call("setRequestHeader", "Accept", "application/json")
	xhr.Call("send", f.file)
	select {
	case <-ctx.Done():
		xhr.Call("abort")
		return "", ctx.Err()
	case ans := <-done:
		wakeSoon()
		if ans.status == 0 {
			// A server refusing an upload early (413) may close the connection while the
			// browser still sends, and the browser then reports a network error.
			return "", &api.Error{Code: api.CodeOffline, Message: "The upload was cut off before Berth answered: the connection broke, or the archive is larger than this Berth accepts (--max-import-size)."}
		}
		return importAnswer(ans.status, ans.statusText, []byte(ans.body))
	}
}
