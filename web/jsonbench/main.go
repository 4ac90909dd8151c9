//go:build js && wasm

// Command jsonbench measures, inside the browser's wasm runtime, how long the UI would take
// to decode a 10,000-tag answer (about 4 MB of JSON) in the forms worth considering, and
// leaves the figures in the global berthJSONBench for BenchmarkWasmJSON (server/).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"syscall/js"
	"time"

	"github.com/berth-registry/berth/app/api"
)

const tags = 10_000

// page is a 10,000-tag answer with the details a real one carries.
func page() api.TagPage {
	p := api.TagPage{Repository: "huge/app", Total: tags, Limit: tags, PullHost: "registry.example:5000"}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range tags {
		d := fmt.Sprintf("sha256:%064x", i*7919+1)
		p.Tags = append(p.Tags, api.Tag{
			Name: fmt.Sprintf("v1.%d.%d", i/100, i%100), Digest: d,
			MediaType: "application/vnd.oci.image.index.v1+json", Kind: "index",
			Size: int64(30_000_000 + i), Created: at.Add(time.Duration(i) * time.Minute), Pushed: at.Add(time.Duration(i) * time.Hour),
			Attestations: 2,
			Platforms: []api.Platform{
				{OS: "linux", Architecture: "amd64", Digest: fmt.Sprintf("sha256:%064x", i*31+2), Size: int64(15_000_000 + i), Created: at},
				{OS: "linux", Architecture: "arm64", Digest: fmt.Sprintf("sha256:%064x", i*37+3), Size: int64(15_000_000 + i), Created: at},
			},
		})
	}
	return p
}

// timed runs f n times and returns the mean in milliseconds.
func timed(n int, f func()) float64 {
	start := time.Now()
	for range n {
		f()
	}
	return float64(time.Since(start).Microseconds()) / 1000 / float64(n)
}

func main() {
	const runs = 3
	p := page()
	whole, _ := json.Marshal(p)
	var lines bytes.Buffer
	enc := json.NewEncoder(&lines)
	for _, t := range p.Tags {
		_ = enc.Encode(t)
	}
	res := map[string]any{"bytes": len(whole), "ndjson_bytes": lines.Len()}

	res["go_json_ms"] = timed(runs, func() {
		var out api.TagPage
		if err := json.Unmarshal(whole, &out); err != nil || len(out.Tags) != tags {
			panic(fmt.Sprint("decode: ", err))
		}
	})
	// Line by line, as a stream would be read: the same work in small pieces, so the page
	// can render between them.
	res["go_ndjson_ms"] = timed(runs, func() {
		sc := bufio.NewScanner(bytes.NewReader(lines.Bytes()))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		out := make([]api.Tag, 0, tags)
		for sc.Scan() {
			var t api.Tag
			if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
				panic(err)
			}
			out = append(out, t)
		}
		if len(out) != tags {
			panic("ndjson: short")
		}
	})
	// The first screen only: what a page needs before it can show rows.
	res["go_first_50_ms"] = timed(runs, func() {
		sc := bufio.NewScanner(bytes.NewReader(lines.Bytes()))
		for i := 0; i < 50 && sc.Scan(); i++ {
			var t api.Tag
			_ = json.Unmarshal(sc.Bytes(), &t)
		}
	})
	// Columnar: one array per field, so the decoder meets a few long arrays of scalars
	// instead of 10,000 objects with their keys.
	cols := columnsOf(p.Tags)
	colRaw, _ := json.Marshal(cols)
	res["columnar_bytes"] = len(colRaw)
	res["go_columnar_ms"] = timed(runs, func() {
		var c columns
		if err := json.Unmarshal(colRaw, &c); err != nil || len(c.Name) != tags {
			panic(fmt.Sprint("columnar: ", err))
		}
		_ = c.tags()
	})
	// Rows (api.TagRowsType): what the repository page asks for, decoded without reflection.
	var rows bytes.Buffer
	_ = api.WriteTagRows(&rows, p)
	res["rows_bytes"] = rows.Len()
	res["go_rows_ms"] = timed(runs, func() {
		out, err := api.ReadTagRows(rows.Bytes())
		if err != nil || len(out.Tags) != tags {
			panic(fmt.Sprint("rows: ", err))
		}
	})
	// JSON.parse in JavaScript, then every field read back across the boundary.
	text := js.ValueOf(string(whole))
	jsonObj := js.Global().Get("JSON")
	res["js_parse_ms"] = timed(runs, func() { jsonObj.Call("parse", text) })
	res["js_parse_handover_ms"] = timed(runs, func() {
		v := jsonObj.Call("parse", text).Get("tags")
		out := make([]api.Tag, v.Length())
		for i := range out {
			t := v.Index(i)
			out[i] = api.Tag{Name: t.Get("name").String(), Digest: t.Get("digest").String(), MediaType: t.Get("mediaType").String(),
				Kind: t.Get("kind").String(), Size: int64(t.Get("size").Float())}
			if c := t.Get("created"); c.Truthy() {
				out[i].Created, _ = time.Parse(time.RFC3339, c.String())
			}
			ps := t.Get("platforms")
			for k := range ps.Length() {
				pl := ps.Index(k)
				out[i].Platforms = append(out[i].Platforms, api.Platform{OS: pl.Get("os").String(), Architecture: pl.Get("architecture").String(),
					Digest: pl.Get("digest").String(), Size: int64(pl.Get("size").Float())})
			}
		}
	})
	js.Global().Set("berthJSONBench", js.ValueOf(res))
	select {}
}

// columns is a tag list stored by field; platforms flattened with PlatformsOf giving each
// tag's count.
type columns struct {
	Name, Digest, MediaType, Kind []string
	Size, Created, Pushed         []int64
	Attestations, PlatformsOf     []int
	OS, Arch, PDigest             []string
	PSize, PCreated               []int64
}

func columnsOf(ts []api.Tag) columns {
	var c columns
	for _, t := range ts {
		c.Name, c.Digest, c.MediaType, c.Kind = append(c.Name, t.Name), append(c.Digest, t.Digest), append(c.MediaType, t.MediaType), append(c.Kind, t.Kind)
		c.Size, c.Created, c.Pushed = append(c.Size, t.Size), append(c.Created, t.Created.Unix()), append(c.Pushed, t.Pushed.Unix())
		c.Attestations, c.PlatformsOf = append(c.Attestations, t.Attestations), append(c.PlatformsOf, len(t.Platforms))
		for _, p := range t.Platforms {
			c.OS, c.Arch, c.PDigest = append(c.OS, p.OS), append(c.Arch, p.Architecture), append(c.PDigest, p.Digest)
			c.PSize, c.PCreated = append(c.PSize, p.Size), append(c.PCreated, p.Created.Unix())
		}
	}
	return c
}

// tags turns the columns back into rows, as the page would use them.
func (c columns) tags() []api.Tag {
	out := make([]api.Tag, len(c.Name))
	k := 0
	for i := range out {
		out[i] = api.Tag{Name: c.Name[i], Digest: c.Digest[i], MediaType: c.MediaType[i], Kind: c.Kind[i], Size: c.Size[i],
			Created: time.Unix(c.Created[i], 0), Pushed: time.Unix(c.Pushed[i], 0), Attestations: c.Attestations[i]}
		for range c.PlatformsOf[i] {
			out[i].Platforms = append(out[i].Platforms, api.Platform{OS: c.OS[k], Architecture: c.Arch[k], Digest: c.PDigest[k], Size: c.PSize[k], Created: time.Unix(c.PCreated[k], 0)})
			k++
		}
	}
	return out
}
