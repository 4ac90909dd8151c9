package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Blob downloads are most of the bytes through /v2, and the general path (ReverseProxy over
// http.Transport) copies each of them through a buffer in user space. For GET of a blob from
// a plain-HTTP registry the proxy therefore speaks HTTP/1.1 on a connection of its own and,
// once the response headers are read, hands the socket itself to the client's response:
// io.Copy then reaches *net.TCPConn.ReadFrom, which splices socket to socket in the kernel
// on Linux. Redirects to storage and errors pass through untouched, like any response.

// blobRelay keeps idle upstream connections for blob downloads.
type blobRelay struct {
	addr    string
	timeout time.Duration
	dialer  net.Dialer

	mu   sync.Mutex
	idle []*upstreamConn
}

// upstreamConn is a connection to the registry with the reader its responses are parsed from.
type upstreamConn struct {
	tcp *net.TCPConn
	br  *bufio.Reader
}

const maxIdleBlobConns = 64

func (b *blobRelay) get(ctx context.Context) (*upstreamConn, bool, error) {
	b.mu.Lock()
	if n := len(b.idle); n > 0 {
		c := b.idle[n-1]
		b.idle = b.idle[:n-1]
		b.mu.Unlock()
		return c, true, nil
	}
	b.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	conn, err := b.dialer.DialContext(dctx, "tcp", b.addr)
	if err != nil {
		return nil, false, err
	}
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		conn.Close()
		return nil, false, net.UnknownNetworkError("not TCP")
	}
	return &upstreamConn{tcp: tcp, br: bufio.NewReaderSize(tcp, 32<<10)}, false, nil
}

func (b *blobRelay) put(c *upstreamConn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.idle) >= maxIdleBlobConns {
		c.tcp.Close()
		return
	}
	b.idle = append(b.idle, c)
}

// isBlobGet reports whether r downloads a blob: GET /v2/<name>/blobs/<digest>.
func isBlobGet(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	i := strings.LastIndex(r.URL.Path, "/blobs/")
	return i > 3 && !strings.Contains(r.URL.Path[i+len("/blobs/"):], "/") && !strings.HasSuffix(r.URL.Path, "/blobs/uploads")
}

// hopHeaders are connection-specific and never forwarded (RFC 9110 7.6.1).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// serveBlob relays a blob download.
func (p *Proxy) serveBlob(w http.ResponseWriter, r *http.Request) {
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host = p.upstream.Scheme, p.upstream.Host
	out.Host = p.upstream.Host
	out.RequestURI = ""
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.Header.Del("Cookie")
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := r.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		out.Header.Set("X-Forwarded-For", ip)
	}
	out.Header.Set("X-Forwarded-Host", r.Host)
	out.Header.Set("X-Forwarded-Proto", "http")
	if r.TLS != nil {
		out.Header.Set("X-Forwarded-Proto", "https")
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header.Set("User-Agent", "") // as ReverseProxy: no Go default
	}

	var (
		c      *upstreamConn
		resp   *http.Response
		reused bool
		err    error
	)
	// A pooled connection the registry closed meanwhile fails at once; one retry on a fresh
	// connection covers that, as http.Transport does for idempotent requests.
	for attempt := 0; attempt < 2; attempt++ {
		c, reused, err = p.blobs.get(r.Context())
		if err != nil {
			break
		}
		_ = c.tcp.SetDeadline(time.Now().Add(p.blobs.timeout))
		if err = out.Write(c.tcp); err == nil {
			resp, err = http.ReadResponse(c.br, out)
		}
		if err == nil {
			break
		}
		c.tcp.Close()
		if !reused {
			break
		}
	}
	if err != nil {
		p.errorHandler(w, r, err)
		return
	}
	_ = c.tcp.SetDeadline(time.Time{})
	// The client going away ends the relay.
	stop := context.AfterFunc(r.Context(), func() { c.tcp.Close() })
	defer stop()

	_ = p.modifyResponse(resp)
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	if resp.ContentLength < 0 || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		// Without a length the body is chunked or delimited by close: copied as it comes,
		// and the connection is not kept.
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		c.tcp.Close()
		return
	}
	w.WriteHeader(resp.StatusCode)
	// Bytes the header read buffered go first; the rest comes straight off the socket, where
	// the response writer can splice it.
	remaining := resp.ContentLength
	if n := int64(c.br.Buffered()); n > 0 {
		k, err := io.CopyN(w, c.br, min(n, remaining))
		remaining -= k
		if err != nil {
			c.tcp.Close()
			return
		}
	}
	if remaining > 0 {
		k, err := io.Copy(rawWriter(w), &io.LimitedReader{R: c.tcp, N: remaining})
		remaining -= k
		if err != nil || remaining > 0 {
			c.tcp.Close()
			return
		}
	}
	if resp.Close || c.br.Buffered() > 0 || !stop() {
		c.tcp.Close()
		return
	}
	p.blobs.put(c)
	return
}

// rawWriter returns the innermost response writer under wrappers that only observe
// (request logging), so io.Copy reaches the server's ReadFrom and with it the kernel's
// socket-to-socket copy. The wrappers' own Write is skipped for the body; status and headers
// went through them already.
func rawWriter(w http.ResponseWriter) io.Writer {
	for {
		if _, ok := w.(io.ReaderFrom); ok {
			return w
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}
