package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// TagRowsType is the media type of a tag page in rows: the page without its tags as one
// line of JSON, then one line per tag, its fields separated by tabs. The browser asks for
// it (Accept) for every tag of a repository: decoding it needs no reflection, so 10,000 tags
// take a small part of what encoding/json takes in wasm (BenchmarkWasmJSON).
const TagRowsType = "application/vnd.berth.tag-rows.v1"

// A tag's line holds these fields, then six per platform (tagPlatformFields).
const (
	tagFields         = 14
	tagPlatformFields = 6
)

// rowEscaper keeps tabs, line ends and backslashes out of a field; rowUnescaper undoes it.
var (
	rowEscaper   = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`)
	rowUnescaper = strings.NewReplacer(`\\`, `\`, `\t`, "\t", `\n`, "\n", `\r`, "\r")
)

// WriteTagRows writes page in rows (TagRowsType) through a small buffer, one tag at a time.
func WriteTagRows(w io.Writer, page TagPage) error {
	tags := page.Tags
	page.Tags = nil
	head, err := json.Marshal(page)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	_, _ = bw.Write(head)
	line := make([]byte, 0, 1024)
	for _, t := range tags {
		line = appendTagRow(append(line[:0], '\n'), t)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	_ = bw.WriteByte('\n')
	return bw.Flush()
}

func appendTagRow(b []byte, t Tag) []byte {
	b = appendField(b, t.Name)
	b = appendField(append(b, '\t'), t.Digest)
	b = appendField(append(b, '\t'), t.MediaType)
	b = appendField(append(b, '\t'), t.Kind)
	b = strconv.AppendInt(append(b, '\t'), t.Size, 10)
	b = appendTime(append(b, '\t'), t.Created)
	b = appendTime(append(b, '\t'), t.Pushed)
	b = strconv.AppendInt(append(b, '\t'), int64(t.Attestations), 10)
	b = appendField(append(b, '\t'), t.ArtifactType)
	b = appendField(append(b, '\t'), t.Error)
	b = strconv.AppendInt(append(b, '\t'), int64(t.Referrers), 10)
	b = appendField(append(b, '\t'), t.Severity)
	b = strconv.AppendInt(append(b, '\t'), int64(t.FixableCritical), 10)
	b = strconv.AppendInt(append(b, '\t'), int64(len(t.Platforms)), 10)
	for _, p := range t.Platforms {
		b = appendField(append(b, '\t'), p.OS)
		b = appendField(append(b, '\t'), p.Architecture)
		b = appendField(append(b, '\t'), p.Variant)
		b = appendField(append(b, '\t'), p.Digest)
		b = strconv.AppendInt(append(b, '\t'), p.Size, 10)
		b = appendTime(append(b, '\t'), p.Created)
	}
	return b
}

func appendField(b []byte, s string) []byte {
	if strings.ContainsAny(s, "\\\t\n\r") {
		s = rowEscaper.Replace(s)
	}
	return append(b, s...)
}

// appendTime writes t as Unix nanoseconds, nothing for the zero time.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	return strconv.AppendInt(b, t.UnixNano(), 10)
}

// ReadTagRows decodes a tag page written by WriteTagRows. The tags' strings share the
// memory of one copy of data.
func ReadTagRows(data []byte) (TagPage, error) {
	var page TagPage
	headEnd := bytes.IndexByte(data, '\n')
	if headEnd < 0 {
		return page, errors.New("tag rows: no header line")
	}
	if err := json.Unmarshal(data[:headEnd], &page); err != nil {
		return page, err
	}
	rest := string(data[headEnd+1:])
	page.Tags = make([]Tag, 0, strings.Count(rest, "\n"))
	fields := make([]string, 0, tagFields+2*tagPlatformFields)
	for line := range strings.Lines(rest) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			continue
		}
		fields = splitTabs(fields[:0], line)
		t, err := tagFromRow(fields)
		if err != nil {
			return page, err
		}
		page.Tags = append(page.Tags, t)
	}
	return page, nil
}

func splitTabs(into []string, line string) []string {
	for {
		i := strings.IndexByte(line, '\t')
		if i < 0 {
			return append(into, line)
		}
		into, line = append(into, line[:i]), line[i+1:]
	}
}

// rowReader reads a row's fields in order, keeping the first error.
type rowReader struct {
	fields []string
	err    error
}

func (r *rowReader) str(i int) string {
	s := r.fields[i]
	if strings.IndexByte(s, '\\') >= 0 {
		s = rowUnescaper.Replace(s)
	}
	return s
}

func (r *rowReader) int(i int) int64 {
	n, err := strconv.ParseInt(r.fields[i], 10, 64)
	if err != nil && r.err == nil {
		r.err = err
	}
	return n
}

func (r *rowReader) time(i int) time.Time {
	if r.fields[i] == "" {
		return time.Time{}
	}
	return time.Unix(0, r.int(i))
}

func tagFromRow(fields []string) (Tag, error) {
	if len(fields) < tagFields {
		return Tag{}, errors.New("tag rows: short line")
	}
	r := rowReader{fields: fields}
	t := Tag{
		Name: r.str(0), Digest: r.str(1), MediaType: r.str(2), Kind: r.str(3), Size: r.int(4),
		Created: r.time(5), Pushed: r.time(6), Attestations: int(r.int(7)), ArtifactType: r.str(8),
		Error: r.str(9), Referrers: int(r.int(10)), Severity: r.str(11), FixableCritical: int(r.int(12)),
	}
	n := int(r.int(13))
	if n < 0 || len(fields) != tagFields+n*tagPlatformFields {
		return Tag{}, errors.New("tag rows: platform fields do not match their count")
	}
	if n > 0 {
		t.Platforms = make([]Platform, n)
	}
	for k := range n {
		at := tagFields + k*tagPlatformFields
		t.Platforms[k] = Platform{OS: r.str(at), Architecture: r.str(at + 1), Variant: r.str(at + 2),
			Digest: r.str(at + 3), Size: r.int(at + 4), Created: r.time(at + 5)}
	}
	return t, r.err
}
