package contents

import (
	"archive/tar"
	"bufio"
	"bytes"
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// entry is one tar entry as indexed. Paths are absolute and clean; a whiteout's path is the
// path it deletes, an opaque marker's the directory it makes opaque.
type entry struct {
	path  string
	typ   byte
	size  int64
	mode  int64
	uid   int
	gid   int
	mtime int64 // Unix seconds
	link  string
}

// Entry types as stored (one byte each).
const (
	tReg byte = iota + 1
	tDir
	tSymlink
	tHardlink
	tChar
	tBlock
	tFifo
	tWhiteout
	tOpaque
)

var typeNames = map[byte]string{
	tReg: api.FileRegular, tDir: api.FileDir, tSymlink: api.FileSymlink, tHardlink: api.FileHardlink,
	tChar: api.FileChar, tBlock: api.FileBlock, tFifo: api.FileFifo, tWhiteout: api.FileWhiteout, tOpaque: api.FileOpaque,
}

func (e entry) api(layer int) api.FileEntry {
	out := api.FileEntry{Path: e.path, Type: typeNames[e.typ], Size: e.size, Mode: e.mode, UID: e.uid, GID: e.gid, Link: e.link, Layer: layer}
	if e.mtime != 0 {
		out.ModTime = time.Unix(e.mtime, 0).UTC()
	}
	return out
}

// layerIndex is a layer's decoded index.
type layerIndex struct {
	digest    string
	entries   []entry
	files     int
	truncated bool
	skipped   int
}

// indexFormat versions the encoding; an index in another format is rebuilt.
const indexFormat = 1

// encode writes the index compactly: a gzip stream of a header, then each entry with its path
// front-coded against the previous one (tar entries of one directory sit together).
func (x *layerIndex) encode() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(indexFormat)
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(zw)
	var tmp [binary.MaxVarintLen64]byte
	uv := func(v uint64) { w.Write(tmp[:binary.PutUvarint(tmp[:], v)]) }
	sv := func(v int64) { w.Write(tmp[:binary.PutVarint(tmp[:], v)]) }
	str := func(s string) { uv(uint64(len(s))); w.WriteString(s) }
	flags := uint64(0)
	if x.truncated {
		flags = 1
	}
	uv(flags)
	uv(uint64(x.skipped))
	uv(uint64(len(x.entries)))
	prev := ""
	for _, e := range x.entries {
		shared := commonPrefix(prev, e.path)
		uv(uint64(shared))
		str(e.path[shared:])
		w.WriteByte(e.typ)
		sv(e.size)
		uv(uint64(e.mode))
		uv(uint64(e.uid))
		uv(uint64(e.gid))
		sv(e.mtime)
		str(e.link)
		prev = e.path
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// errIndexFormat means a stored index was written by another version of the encoding.
var errIndexFormat = errors.New("index format unknown")

func decodeIndex(digest string, data []byte) (*layerIndex, error) {
	if len(data) == 0 || data[0] != indexFormat {
		return nil, errIndexFormat
	}
	zr, err := gzip.NewReader(bytes.NewReader(data[1:]))
	if err != nil {
		return nil, fmt.Errorf("decode index of %s: %w", digest, err)
	}
	r := bufio.NewReader(zr)
	var derr error
	uv := func() uint64 {
		v, err := binary.ReadUvarint(r)
		if err != nil && derr == nil {
			derr = err
		}
		return v
	}
	sv := func() int64 {
		v, err := binary.ReadVarint(r)
		if err != nil && derr == nil {
			derr = err
		}
		return v
	}
	str := func() string {
		n := uv()
		if derr != nil || n > 1<<20 {
			if derr == nil {
				derr = errors.New("string too long")
			}
			return ""
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil && derr == nil {
			derr = err
		}
		return string(b)
	}
	x := &layerIndex{digest: digest}
	x.truncated = uv()&1 != 0
	x.skipped = int(uv())
	n := uv()
	if derr != nil || n > 1<<24 {
		return nil, fmt.Errorf("decode index of %s: bad header", digest)
	}
	x.entries = make([]entry, 0, n)
	prev := ""
	for range n {
		shared := int(uv())
		if shared > len(prev) {
			return nil, fmt.Errorf("decode index of %s: bad prefix", digest)
		}
		var e entry
		e.path = prev[:shared] + str()
		t, err := r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("decode index of %s: %w", digest, err)
		}
		e.typ = t
		e.size = sv()
		e.mode = int64(uv())
		e.uid = int(uv())
		e.gid = int(uv())
		e.mtime = sv()
		e.link = str()
		if derr != nil {
			return nil, fmt.Errorf("decode index of %s: %w", digest, derr)
		}
		if e.typ == tReg {
			x.files++
		}
		x.entries = append(x.entries, e)
		prev = e.path
	}
	return x, nil
}

// layerRef is a layer of an image the caller may read.
type layerRef struct {
	repository string
	digest     string
	mediaType  string
	size       int64
	index      int
}

// errCorrupt marks a layer that cannot be read as a tar stream.
var errCorrupt = errors.New("layer is truncated or corrupt")

// decompress returns the tar stream inside a layer blob, recognized by its first bytes
// rather than the media type, which some tools get wrong: gzip, zstd or plain tar.
func (s *Service) decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: gzip: %v", errCorrupt, err)
		}
		return zr, func() { _ = zr.Close() }, nil
	case len(magic) == 4 && bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(s.limits.MaxWindow), zstd.WithDecoderMaxMemory(1<<40))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: zstd: %v", errCorrupt, err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// countingReader counts the compressed bytes read, for progress.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// scan reads a layer's tar stream to its end, calling visit for every entry it indexes, and
// reads the blob to EOF so the registry client verifies its digest: an index is only ever
// built from a whole, verified layer.
func (s *Service) scan(ctx context.Context, l layerRef, read *atomic.Int64, visit func(e entry, h *tar.Header, body io.Reader) (stop bool, err error)) error {
	blob, err := s.reg.OpenBlob(ctx, l.repository, l.digest)
	if err != nil {
		return err
	}
	defer blob.Close()
	var raw io.Reader = blob
	if read != nil {
		raw = countingReader{blob, read}
	}
	tr, closeFn, err := s.decompress(raw)
	if err != nil {
		return err
	}
	defer closeFn()
	t := tar.NewReader(tr)
	for {
		h, err := t.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return corrupt(ctx, err)
		}
		e, ok := toEntry(h)
		if !ok {
			continue
		}
		stop, err := visit(e, h, t)
		if err != nil {
			return err
		}
		if stop {
			return nil
		}
	}
	// The rest of the stream (tar padding, a second gzip member) and of the blob must still
	// read cleanly: a layer cut short after its last entry is as corrupt as one cut earlier.
	if _, err := io.Copy(io.Discard, tr); err != nil {
		return corrupt(ctx, err)
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return corrupt(ctx, err)
	}
	return nil
}

// corrupt says a read error is the layer's fault, unless the request or a registry answer
// (already an *httperr.Error) explains it.
func corrupt(ctx context.Context, err error) error {
	var he *httperr.Error
	if errors.As(err, &he) || ctx.Err() != nil {
		return err
	}
	if errors.Is(err, errCorrupt) {
		return err
	}
	return fmt.Errorf("%w: %v", errCorrupt, err)
}

// toEntry turns a tar header into an entry; ok is false for the root and for headers that are
// not files (tar handles PAX and GNU long-name records itself).
func toEntry(h *tar.Header) (entry, bool) {
	name := path.Clean("/" + h.Name)
	if name == "/" {
		return entry{}, false
	}
	e := entry{path: name, size: h.Size, mode: h.Mode & 0o7777, uid: h.Uid, gid: h.Gid}
	if !h.ModTime.IsZero() {
		e.mtime = h.ModTime.Unix()
	}
	dir, base := path.Split(name)
	if strings.HasPrefix(base, ".wh.") {
		if base == ".wh..wh..opq" {
			e.path, e.typ = path.Clean(dir), tOpaque
		} else {
			e.path, e.typ = path.Join(dir, strings.TrimPrefix(base, ".wh.")), tWhiteout
		}
		e.size = 0
		return e, true
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeCont:
		e.typ = tReg
	case tar.TypeDir:
		e.typ, e.size = tDir, 0
	case tar.TypeSymlink:
		e.typ, e.size, e.link = tSymlink, 0, h.Linkname
	case tar.TypeLink:
		e.typ, e.size, e.link = tHardlink, 0, path.Clean("/"+h.Linkname)
	case tar.TypeChar:
		e.typ, e.size = tChar, 0
	case tar.TypeBlock:
		e.typ, e.size = tBlock, 0
	case tar.TypeFifo:
		e.typ, e.size = tFifo, 0
	default:
		return entry{}, false
	}
	return e, true
}

// build indexes a layer by streaming it once.
func (s *Service) build(ctx context.Context, l layerRef, read *atomic.Int64) (*layerIndex, error) {
	x := &layerIndex{digest: l.digest}
	err := s.scan(ctx, l, read, func(e entry, _ *tar.Header, _ io.Reader) (bool, error) {
		if len(e.path) > s.limits.MaxPath || len(e.link) > s.limits.MaxPath {
			x.skipped++
			return false, nil
		}
		if len(x.entries) >= s.limits.MaxEntries {
			x.truncated = true
			x.skipped++
			return false, nil
		}
		if e.typ == tReg {
			x.files++
		}
		x.entries = append(x.entries, e)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return x, nil
}

// flight is one layer being indexed; everyone asking for the layer meanwhile waits for it.
type flight struct {
	done chan struct{}
	read atomic.Int64
	size int64
	x    *layerIndex
	err  error
}

// join returns the flight indexing l, starting one if none runs. The indexing outlives the
// request that started it (others may be waiting), bounded by Limits.IndexTimeout; it keeps
// ctx's values, so it reads the layer as the caller who started it, who was just allowed to.
func (s *Service) join(ctx context.Context, l layerRef) *flight {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.flights[l.digest]; ok {
		return f
	}
	f := &flight{done: make(chan struct{}), size: l.size}
	s.flights[l.digest] = f
	go func() {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.limits.IndexTimeout)
		defer cancel()
		f.x, f.err = s.buildAndStore(bctx, l, &f.read)
		s.mu.Lock()
		delete(s.flights, l.digest)
		s.mu.Unlock()
		close(f.done)
	}()
	return f
}

func (s *Service) buildAndStore(ctx context.Context, l layerRef, read *atomic.Int64) (*layerIndex, error) {
	// Another flight may have finished between the caller's store lookup and this one.
	if x, err := s.stored(ctx, l.digest); err != nil || x != nil {
		return x, err
	}
	start := time.Now()
	x, err := s.build(ctx, l, read)
	if err != nil {
		slog.WarnContext(ctx, "layer not indexed", "layer", l.digest, "repository", l.repository, "err", err)
		return nil, err
	}
	data, err := x.encode()
	if err != nil {
		return nil, fmt.Errorf("encode index of %s: %w", l.digest, err)
	}
	if err := s.store.PutLayerIndex(ctx, store.LayerIndex{Digest: l.digest, Entries: len(x.entries), Files: x.files, Data: data}); err != nil {
		return nil, httperr.Wrap(api.CodeStoreUnavailable, "the layer index could not be stored", err)
	}
	slog.InfoContext(ctx, "layer indexed", "layer", l.digest, "entries", len(x.entries), "bytes", read.Load(), "indexBytes", len(data), "took", time.Since(start))
	s.cache.put(x)
	return x, nil
}

// stored returns the index in memory or the store, or nil.
func (s *Service) stored(ctx context.Context, digest string) (*layerIndex, error) {
	if x := s.cache.get(digest); x != nil {
		return x, nil
	}
	si, ok, err := s.store.LayerIndex(ctx, digest)
	if err != nil {
		return nil, httperr.Wrap(api.CodeStoreUnavailable, "the layer index could not be read", err)
	}
	if !ok {
		return nil, nil
	}
	x, err := decodeIndex(digest, si.Data)
	if err != nil {
		// An index this version cannot read is rebuilt, not served.
		slog.WarnContext(ctx, "stored layer index unreadable, rebuilding", "layer", digest, "err", err)
		return nil, nil
	}
	s.cache.put(x)
	return x, nil
}

// index returns l's index, building it (once, however many ask) when none is stored.
// The caller must have read a manifest listing l with its own credentials just before.
func (s *Service) index(ctx context.Context, l layerRef) (*layerIndex, error) {
	x, err := s.stored(ctx, l.digest)
	if err != nil || x != nil {
		return x, err
	}
	f := s.join(ctx, l)
	select {
	case <-f.done:
		return f.x, s.indexError(l, f.err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// indexError says which layer failed and why, in words for the UI.
func (s *Service) indexError(l layerRef, err error) error {
	if err == nil {
		return nil
	}
	var he *httperr.Error
	if errors.As(err, &he) {
		return err
	}
	if errors.Is(err, errCorrupt) {
		return httperr.Wrap(api.CodeRegistryError, fmt.Sprintf("layer %d (%s) cannot be read: it is truncated or corrupt (%s); nothing was indexed", l.index+1, l.digest, reason(err)), err)
	}
	if httperr.Timeout(err) {
		return httperr.Wrap(api.CodeRegistryTimeout, fmt.Sprintf("indexing layer %s took too long", l.digest), err)
	}
	return err
}

// reason is the innermost part of an error message.
func reason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		return msg[i+2:]
	}
	return msg
}

// indexCache keeps recently used decoded indexes, bounded by their total entries.
type indexCache struct {
	mu    sync.Mutex
	max   int
	total int
	order *list.List // of *layerIndex, most recent first
	byKey map[string]*list.Element
}

func newIndexCache(max int) *indexCache {
	return &indexCache{max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

func (c *indexCache) get(digest string) *layerIndex {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[digest]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*layerIndex)
	}
	return nil
}

func (c *indexCache) put(x *layerIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[x.digest]; ok || len(x.entries) > c.max {
		return
	}
	c.byKey[x.digest] = c.order.PushFront(x)
	c.total += len(x.entries)
	for c.total > c.max {
		el := c.order.Back()
		old := el.Value.(*layerIndex)
		c.order.Remove(el)
		delete(c.byKey, old.digest)
		c.total -= len(old.entries)
	}
}
