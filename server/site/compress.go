package site

import (
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"

	"github.com/berth-registry/berth/app/api"
)

// compress sends pages and /api/v1 answers brotli- or gzip-compressed as Accept-Encoding asks
// (a 10,000-tag answer is 4 MB of JSON). /v2 (blobs pass as the registry sent them) and /web/
// (app.wasm is precompressed; assets keep their ETags and ranges) pass untouched, and so does
// anything already encoded, partial, small, or not text (NDJSON job streams among them).
func compress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/") || r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/web/") {
			next.ServeHTTP(w, r)
			return
		}
		c := &compressWriter{ResponseWriter: w, enc: dynamicEncoding(r.Header.Get("Accept-Encoding"))}
		if inm := r.Header.Get("If-None-Match"); c.enc != "" && inm != "" {
			// The handler knows its ETags without our suffix; a 304 gets it back in decide.
			plain := strings.ReplaceAll(inm, "-"+c.enc+`"`, `"`)
			c.suffixed = plain != inm
			r.Header.Set("If-None-Match", plain)
		}
		defer c.finish()
		next.ServeHTTP(c, r)
	})
}

// dynamicEncoding picks gzip, br or "" from Accept-Encoding for an answer compressed as it
// is sent: the higher q-value, gzip on a tie, since BenchmarkCompressTags finds gzip's fastest
// level a quarter of brotli's CPU for 6% more bytes (app.wasm, compressed once, prefers br).
func dynamicEncoding(header string) string {
	br, gz := qValue(header, "br"), qValue(header, "gzip")
	switch {
	case gz > 0 && gz >= br:
		return "gzip"
	case br > 0:
		return "br"
	}
	return ""
}

// Levels chosen by BenchmarkCompressTags on a 5.7 MB tags answer: see README "Performance".
const (
	brotliLevel = 1
	gzipLevel   = 1
	// minCompress is the smallest body worth compressing: below it the framing eats the gain.
	minCompress = 1024
)

// compressible lists the media types compressed: text the UI and API send.
var compressible = map[string]bool{
	"text/html": true, "application/json": true, "application/problem+json": true, "text/plain": true,
	"text/css": true, "text/javascript": true, "application/javascript": true, "application/manifest+json": true,
	"image/svg+xml": true, api.TagRowsType: true, "application/xml": true, "application/yaml": true, "application/x-yaml": true, "text/yaml": true,
}

// encoder is a pooled brotli or gzip writer.
type encoder interface {
	io.WriteCloser
	Flush() error
	Reset(io.Writer)
}

var encoders = map[string]*sync.Pool{
	"br": {New: func() any { return brotli.NewWriterLevel(nil, brotliLevel) }},
	"gzip": {New: func() any {
		z, _ := gzip.NewWriterLevel(nil, gzipLevel) // the level is a valid constant
		return z
	}},
}

// compressWriter holds back the first bytes of an answer until it knows whether to compress
// it: by its headers and, unless the handler flushes, by whether it reaches minCompress.
type compressWriter struct {
	http.ResponseWriter
	enc      string // negotiated: "br", "gzip" or "" for identity
	suffixed bool   // If-None-Match carried our ETag suffix for enc
	status   int
	decided  bool
	buf      []byte
	z        encoder
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (c *compressWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *compressWriter) WriteHeader(code int) {
	if c.decided {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		c.ResponseWriter.WriteHeader(code) // informational: the real header follows
		return
	}
	c.status = code
}

func (c *compressWriter) Write(p []byte) (int, error) {
	if c.decided {
		if c.z != nil {
			return c.z.Write(p)
		}
		return c.ResponseWriter.Write(p)
	}
	if !c.eligible() || c.enc == "" {
		if err := c.decide(false); err != nil {
			return 0, err
		}
		return c.ResponseWriter.Write(p)
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) < minCompress {
		return len(p), nil
	}
	return len(p), c.decide(true)
}

// Flush sends what was written so far: a handler that flushes streams, so it is compressed
// from here on if at all, whatever its size.
func (c *compressWriter) Flush() {
	if !c.decided {
		_ = c.decide(c.eligible() && c.enc != "")
	}
	if c.z != nil {
		_ = c.z.Flush()
	}
	_ = http.NewResponseController(c.ResponseWriter).Flush()
}

// eligible reports whether the answer, by its status and headers, may be compressed.
func (c *compressWriter) eligible() bool {
	switch s := c.code(); {
	case s < 200, s == http.StatusNoContent, s == http.StatusPartialContent, s == http.StatusNotModified:
		return false
	}
	h := c.Header()
	if h.Get("Content-Encoding") != "" || h.Get("Content-Range") != "" {
		return false
	}
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return compressible[mt]
}

func (c *compressWriter) code() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}

// decide sends the header, compressed or not, and what was held back.
func (c *compressWriter) decide(compressed bool) error {
	c.decided = true
	h := c.Header()
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if compressible[mt] || c.code() == http.StatusNotModified {
		h.Add("Vary", "Accept-Encoding")
	}
	if compressed || (c.code() == http.StatusNotModified && c.suffixed) {
		if etag := h.Get("ETag"); strings.HasPrefix(etag, `"`) && strings.HasSuffix(etag, `"`) && len(etag) > 1 {
			h.Set("ETag", strings.TrimSuffix(etag, `"`)+"-"+c.enc+`"`) // one strong ETag per encoding
		}
	}
	if compressed {
		h.Del("Content-Length")
		h.Del("Accept-Ranges")
		h.Set("Content-Encoding", c.enc)
		c.z = encoders[c.enc].Get().(encoder)
		c.z.Reset(c.ResponseWriter)
	}
	c.ResponseWriter.WriteHeader(c.code())
	buf := c.buf
	c.buf = nil
	if len(buf) == 0 {
		return nil
	}
	var err error
	if c.z != nil {
		_, err = c.z.Write(buf)
	} else {
		_, err = c.ResponseWriter.Write(buf)
	}
	return err
}

// finish ends the answer once the handler returned: a short one goes out as it is.
func (c *compressWriter) finish() {
	if !c.decided {
		if c.status == 0 && len(c.buf) == 0 {
			return // nothing written: net/http sends its own empty 200
		}
		_ = c.decide(false)
	}
	if c.z != nil {
		_ = c.z.Close()
		c.z.Reset(nil)
		encoders[c.enc].Put(c.z)
		c.z = nil
	}
}
