package ops

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Archive is an image archive — `docker save` output or an OCI image layout — as a plain
// tar file on disk, indexed once so that every file in it can be read at random, as often as
// a push needs, without scanning the tar again.
type Archive struct {
	f     *os.File
	files map[string]archiveFile
}

// archiveFile is a regular file of the tar, or a link to one.
type archiveFile struct {
	offset, size int64
	link         string // target of a symbolic or hard link; "" for a regular file
}

// Limits on an archive's index: real archives have a few dozen files.
const (
	maxArchiveFiles = 100_000
	maxArchivePath  = 4096
	maxLinkHops     = 8
	// maxArchiveJSON bounds manifest.json, index.json, manifests and configs.
	maxArchiveJSON = 8 << 20
)

// errArchive is a 400 saying what is wrong with an archive.
func errArchive(format string, args ...any) error {
	return badRequest("The archive is not a valid docker save or OCI-layout tarball: " + fmt.Sprintf(format, args...))
}

// errNotArchive is a 400 for a file that is no image archive at all: not a tar, or a tar
// without a docker save manifest.json or an OCI layout.
func errNotArchive(why string) error {
	return badRequest("This is not a docker save or OCI archive: " + why + ".")
}

// OpenArchive opens and indexes the tar file at path. A truncated or malformed tar is a
// 400 that says so.
func OpenArchive(path string) (*Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open archive: %w", err)
	}
	a := &Archive{f: f, files: map[string]archiveFile{}}
	if err := a.index(); err != nil {
		f.Close()
		return nil, err
	}
	return a, nil
}

// Close closes the archive's file.
func (a *Archive) Close() error { return a.f.Close() }

func (a *Archive) index() error {
	// Offsets come from counting what the tar reader consumed: it reads file data only when
	// asked, and skips it by seeking otherwise.
	st, err := a.f.Stat()
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	size := st.Size()
	cr := &countingReader{r: a.f}
	tr := tar.NewReader(cr)
	for headers := 0; ; headers++ {
		h, err := tr.Next()
		if err != nil && headers == 0 {
			// Not even one tar header: some other kind of file (or an empty one).
			return errNotArchive("it is not a tar file")
		}
		if errors.Is(err, io.EOF) {
			// A tar ends with zero blocks; one cut at a file boundary just stops.
			if !cr.zeroBlock {
				return errArchive("the tar is truncated (it stops without the end-of-archive blocks)")
			}
			if len(a.files) == 0 {
				return errNotArchive("the tar holds no files")
			}
			return nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return errArchive("the tar is truncated")
			}
			return errArchive("the tar cannot be read (%s)", strings.TrimPrefix(err.Error(), "archive/tar: "))
		}
		if len(h.Name) > maxArchivePath {
			return errArchive("a file name is longer than %d bytes", maxArchivePath)
		}
		name := cleanName(h.Name)
		switch h.Typeflag {
		case tar.TypeReg: // the reader reports the old '\x00' as TypeReg too
			if len(a.files) >= maxArchiveFiles {
				return errArchive("it holds more than %d files", maxArchiveFiles)
			}
			// The data must all be there: a truncated last file shows here, not at the push.
			// The reader skips data by seeking, which does not notice the end of the file.
			if cr.n+h.Size > size {
				return errArchive("the tar is truncated (%s ends early)", name)
			}
			a.files[name] = archiveFile{offset: cr.n, size: h.Size}
		case tar.TypeSymlink:
			a.files[name] = archiveFile{link: path.Join(path.Dir(name), h.Linkname)}
		case tar.TypeLink:
			a.files[name] = archiveFile{link: cleanName(h.Linkname)}
		}
	}
}

// countingReader counts the bytes read and skipped through it, and notes whether the last
// read was a zero block (the tar reader reads headers a block at a time, and data it skips
// only a byte at a time).
type countingReader struct {
	r         *os.File
	n         int64
	zeroBlock bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 {
		c.zeroBlock = n == 512 && allZero(p[:n])
	}
	return n, err
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// Seek lets the tar reader skip file data; only relative seeks happen.
func (c *countingReader) Seek(offset int64, whence int) (int64, error) {
	pos, err := c.r.Seek(offset, whence)
	if err == nil {
		c.n = pos
	}
	return pos, err
}

func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// file returns the file called name (links followed); ok is false when there is none.
func (a *Archive) file(name string) (archiveFile, bool) {
	name = cleanName(name)
	for range maxLinkHops {
		f, ok := a.files[name]
		if !ok || f.link == "" {
			return f, ok
		}
		name = cleanName(f.link)
	}
	return archiveFile{}, false
}

// has reports whether the archive holds name.
func (a *Archive) has(name string) bool {
	_, ok := a.file(name)
	return ok
}

// open returns a reader of the file called name.
func (a *Archive) open(name string) (*io.SectionReader, error) {
	f, ok := a.file(name)
	if !ok {
		return nil, errArchive("%s is missing", name)
	}
	return io.NewSectionReader(a.f, f.offset, f.size), nil
}

// readJSON reads a small file of the archive whole.
func (a *Archive) readJSON(name string) ([]byte, error) {
	r, err := a.open(name)
	if err != nil {
		return nil, err
	}
	if r.Size() > maxArchiveJSON {
		return nil, errArchive("%s is larger than %d bytes", name, maxArchiveJSON)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// sha256Of hashes a file of the archive; gunzip hashes its content instead when it is
// gzip-compressed (a layer's diffID). It stops when ctx is done.
func (a *Archive) sha256Of(ctx context.Context, name string, gunzip bool) (string, error) {
	sr, err := a.open(name)
	if err != nil {
		return "", err
	}
	var r io.Reader = &ctxReader{ctx: ctx, r: sr}
	if gunzip {
		br := bufio.NewReader(r)
		if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			zr, err := gzip.NewReader(br)
			if err != nil {
				return "", errArchive("%s is not valid gzip (%v)", name, err)
			}
			defer zr.Close()
			r = zr
		} else {
			r = br
		}
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", errArchive("%s cannot be read (%v)", name, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader ends a long read when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
