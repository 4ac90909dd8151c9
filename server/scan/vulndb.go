package scan

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/server/store"
)

// The vulnerability database is OSV's export format: a zip archive of one JSON record per
// advisory, as osv.dev publishes per ecosystem (<ecosystem>/all.zip) and for all of them
// (all.zip). Berth keeps it in its store split by ecosystem, so every replica scans against
// the same one, and writes it out per version for SCALIBR's offline matcher.

// Limits on an archive Berth takes in.
const (
	// DefaultMaxDBSize bounds the archive fetched or imported (compressed).
	DefaultMaxDBSize = 1 << 30
	// maxRecord bounds one advisory, uncompressed.
	maxRecord = 4 << 20
)

// ErrBadArchive says an archive is not an OSV export; its message is for people.
var ErrBadArchive = errors.New("not an OSV database archive")

// record is what Berth reads of an advisory to file it by ecosystem and date it.
type record struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Affected []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
	} `json:"affected"`
}

// ParseArchive splits the OSV zip archive in r (size bytes) into one archive per ecosystem;
// source says where it came from.
func ParseArchive(r io.ReaderAt, size int64, source string) (store.VulnDB, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return store.VulnDB{}, fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	writers := map[string]*ecosystemZip{}
	db := store.VulnDB{Source: source, Loaded: time.Now().UTC(), Archives: map[string][]byte{}, Counts: map[string]int{}}
	sum := sha256.New()
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".json") || f.UncompressedSize64 > maxRecord {
			continue
		}
		data, rec, err := readRecord(f)
		if err != nil {
			return store.VulnDB{}, err
		}
		if rec.ID == "" {
			continue
		}
		sum.Write(data)
		db.Records++
		if rec.Modified.After(db.Newest) {
			db.Newest = rec.Modified.UTC()
		}
		for _, eco := range ecosystems(rec) {
			w := writers[eco]
			if w == nil {
				w = newEcosystemZip()
				writers[eco] = w
			}
			if err := w.add(rec.ID, data); err != nil {
				return store.VulnDB{}, err
			}
		}
	}
	if db.Records == 0 {
		return store.VulnDB{}, fmt.Errorf("%w: it holds no advisories", ErrBadArchive)
	}
	for eco, w := range writers {
		b, err := w.close()
		if err != nil {
			return store.VulnDB{}, err
		}
		db.Archives[eco], db.Counts[eco] = b, w.n
	}
	db.Version = "sha256:" + hex.EncodeToString(sum.Sum(nil))
	return db, nil
}

func readRecord(f *zip.File) ([]byte, record, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, record{}, fmt.Errorf("%w: %s: %v", ErrBadArchive, f.Name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxRecord))
	if err != nil {
		return nil, record{}, fmt.Errorf("%w: %s: %v", ErrBadArchive, f.Name, err)
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, record{}, fmt.Errorf("%w: %s is not an OSV record", ErrBadArchive, f.Name)
	}
	return data, rec, nil
}

// ecosystems are the distinct base ecosystems a record affects ("Alpine:v3.20" → "Alpine"),
// the names of osv.dev's per-ecosystem archives SCALIBR looks for.
func ecosystems(rec record) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range rec.Affected {
		eco, _, _ := strings.Cut(a.Package.Ecosystem, ":")
		if eco == "" || strings.ContainsAny(eco, `/\.`) || seen[eco] {
			continue
		}
		seen[eco] = true
		out = append(out, eco)
	}
	return out
}

type ecosystemZip struct {
	buf bytes.Buffer
	w   *zip.Writer
	n   int
}

func newEcosystemZip() *ecosystemZip {
	z := &ecosystemZip{}
	z.w = zip.NewWriter(&z.buf)
	return z
}

func (z *ecosystemZip) add(id string, data []byte) error {
	w, err := z.w.Create(strings.Map(safeRune, id) + ".json")
	if err != nil {
		return err
	}
	z.n++
	_, err = w.Write(data)
	return err
}

func (z *ecosystemZip) close() ([]byte, error) {
	if err := z.w.Close(); err != nil {
		return nil, err
	}
	return z.buf.Bytes(), nil
}

// safeRune keeps advisory ids usable as file names.
func safeRune(r rune) rune {
	if r == '/' || r == '\\' || r < ' ' {
		return '_'
	}
	return r
}

// files writes each database version out once per process, for SCALIBR's matcher, which
// reads <dir>/<ecosystem>/all.zip; older versions are removed.
type files struct {
	root string
	mu   sync.Mutex
	dir  string // the current version's directory
	ver  string
	prev string // the version before, kept for scans still reading it
}

// current returns the directory of version when it is written already.
func (f *files) current(version string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dir, f.dir != "" && f.ver == version
}

// dirFor returns the directory holding db's archives, writing them when its version is new.
func (f *files) dirFor(db store.VulnDB) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ver == db.Version && f.dir != "" {
		return f.dir, nil
	}
	if err := os.MkdirAll(f.root, 0o750); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(f.root, "db-")
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(db.Archives))
	for eco := range db.Archives {
		names = append(names, eco)
	}
	sort.Strings(names)
	for _, eco := range names {
		// The matcher looks under <LocalPath>/osv-scalibr/<ecosystem>/all.zip.
		ecoDir := filepath.Join(dir, "osv-scalibr", eco)
		if err := os.MkdirAll(ecoDir, 0o750); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(ecoDir, "all.zip"), db.Archives[eco], 0o640); err != nil {
			return "", err
		}
	}
	// SCALIBR's offline matcher stops matching altogether at the first package of an
	// ecosystem without an archive: every other known ecosystem gets an empty one.
	for _, eco := range osvEcosystems {
		if _, ok := db.Archives[eco]; ok {
			continue
		}
		ecoDir := filepath.Join(dir, "osv-scalibr", eco)
		if err := os.MkdirAll(ecoDir, 0o750); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(ecoDir, "all.zip"), emptyZip, 0o640); err != nil {
			return "", err
		}
	}
	if f.prev != "" {
		_ = os.RemoveAll(f.prev)
	}
	f.prev, f.dir, f.ver = f.dir, dir, db.Version
	return dir, nil
}
