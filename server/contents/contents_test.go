package contents_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/contents"
)

// The layers of the test image "look/inside:v1", base first.
func testLayers(t testing.TB) []layer {
	long := "opt/" + strings.Repeat("very-long-directory-name/", 12) + "file.txt" // > 100 bytes: a PAX path
	base := gzLayer(t, "/bin/sh -c #(nop) ADD file:abc in / ",
		dir("etc/"),
		file("etc/os-release", "NAME=\"Berth Linux\"\nID=berth\nVERSION_ID=1.0\n"),
		file("etc/hosts", "127.0.0.1 localhost\n"),
		symlink("etc/release", "os-release"),
		dir("bin/"),
		tarEntry{name: "bin/busybox", typ: '0', body: "\x7fELF\x00\x01binary", mode: 0o755},
		hardlink("bin/sh", "bin/busybox"),
		dir("usr/share/doc/old/"),
		file("usr/share/doc/old/README", "old docs"),
		file(long, "deep"),
	)
	upper := layer{zst(t, tarOf(t,
		whiteout("etc", "hosts"),
		dir("usr/share/doc/"),
		file("usr/share/doc/.wh..wh..opq", ""),
		file("usr/share/doc/new.txt", "new docs"),
		file("app/config.yaml", "a: 1\n"),
	)), types.OCILayerZStd, "RUN |1 VERSION=2 /bin/sh -c rm /etc/hosts && make install # buildkit"}
	top := layer{tarOf(t,
		file("app/config.yaml", "a: 1\nb: 2\n"),
		file("app/bin/run", "#!/bin/sh\nexec server\n"),
	), types.OCIUncompressedLayer, "COPY config.yaml /app/ # buildkit"}
	return []layer{base, upper, top}
}

func TestBrowse(t *testing.T) {
	e := newEnv(t, openRegistry(t), contents.Limits{})
	layers := testLayers(t)
	digest := push(t, e.host, "look/inside", "v1", layers, nil)
	ld := layerDigests(t, layers...)
	img := "/api/v1/contents/look/inside/-/image/v1"

	var ic api.ImageContents
	e.mustGet(t, img, &ic)
	if ic.Digest != digest || len(ic.Layers) != 3 || ic.Layers[0].Indexed {
		t.Fatalf("image = %+v", ic)
	}
	wantSteps := []struct {
		instr string
		layer int
	}{{"ENV PATH=/usr/bin", -1}, {"ADD file:abc in /", 0}, {"RUN rm /etc/hosts && make install", 1}, {"COPY config.yaml /app/", 2}}
	if len(ic.Steps) != len(wantSteps) {
		t.Fatalf("steps = %+v", ic.Steps)
	}
	for i, w := range wantSteps {
		if ic.Steps[i].Instruction != w.instr || ic.Steps[i].Layer != w.layer {
			t.Errorf("step %d = %q layer %d; want %q layer %d", i, ic.Steps[i].Instruction, ic.Steps[i].Layer, w.instr, w.layer)
		}
	}

	// Per layer: every entry, whiteouts and opaque markers included.
	var lf api.LayerFiles
	e.mustGet(t, img+"/layers/"+ld[0], &lf)
	byPath := map[string]api.FileEntry{}
	for _, en := range lf.Entries {
		byPath[en.Path] = en
	}
	long := "/opt/" + strings.Repeat("very-long-directory-name/", 12) + "file.txt"
	checks := []struct {
		path, typ, link string
		size            int64
	}{
		{"/etc/os-release", api.FileRegular, "", 43},
		{"/etc/release", api.FileSymlink, "os-release", 0},
		{"/bin/sh", api.FileHardlink, "/bin/busybox", 0},
		{"/usr/share/doc/old", api.FileDir, "", 0},
		{long, api.FileRegular, "", 4},
	}
	for _, c := range checks {
		got, ok := byPath[c.path]
		if !ok || got.Type != c.typ || got.Link != c.link || got.Size != c.size || got.UID != 1000 || got.ModTime.IsZero() {
			t.Errorf("layer 0 %s = %+v (present %v); want %s %q size %d", c.path, got, ok, c.typ, c.link, c.size)
		}
	}
	if byPath["/bin/busybox"].Mode != 0o755 {
		t.Errorf("busybox mode = %o", byPath["/bin/busybox"].Mode)
	}
	lf = api.LayerFiles{} // decoding into a used value would keep fields the answer omits
	e.mustGet(t, img+"/layers/"+ld[1], &lf)
	kinds := map[string]string{}
	for _, en := range lf.Entries {
		kinds[en.Path] = en.Type
	}
	if kinds["/etc/hosts"] != api.FileWhiteout || kinds["/usr/share/doc/new.txt"] != api.FileRegular || lf.Layer.Entries != 5 {
		t.Errorf("layer 1 (zstd) = %+v", lf)
	}
	opaque := false
	for _, en := range lf.Entries {
		opaque = opaque || (en.Path == "/usr/share/doc" && en.Type == api.FileOpaque)
	}
	if !opaque {
		t.Errorf("layer 1 has no opaque marker for /usr/share/doc: %+v", lf.Entries)
	}
	lf = api.LayerFiles{}
	e.mustGet(t, img+"/layers/"+ld[2]+"?q=RUN", &lf)
	if lf.Total != 1 || lf.Entries[0].Path != "/app/bin/run" {
		t.Errorf("search in uncompressed layer = %+v", lf)
	}

	// The merged filesystem: whiteouts and opaque directories honoured, last writer shown.
	tree := func(q string) map[string]api.FileEntry {
		t.Helper()
		var tr api.Tree
		e.mustGet(t, img+"/tree?"+q, &tr)
		out := map[string]api.FileEntry{}
		for _, en := range tr.Entries {
			out[en.Path] = en
		}
		return out
	}
	etc := tree("path=/etc")
	if _, ok := etc["/etc/hosts"]; ok || etc["/etc/os-release"].Layer != 0 || len(etc) != 2 {
		t.Errorf("/etc = %+v", etc)
	}
	doc := tree("path=/usr/share/doc")
	if len(doc) != 1 || doc["/usr/share/doc/new.txt"].Layer != 1 {
		t.Errorf("/usr/share/doc = %+v", doc)
	}
	app := tree("path=/app")
	if app["/app/config.yaml"].Layer != 2 || app["/app/config.yaml"].Size != 10 || app["/app/bin"].Children != 1 {
		t.Errorf("/app = %+v", app)
	}
	if hits := tree("q=config"); len(hits) != 1 {
		t.Errorf("search config = %+v", hits)
	}

	// Files: text through a symlink, binary through a hard link, downloads byte for byte.
	var fc api.FileContent
	e.mustGet(t, img+"/file?path=/etc/release", &fc)
	if fc.Resolved != "/etc/os-release" || !strings.Contains(fc.Text, `NAME="Berth Linux"`) || fc.Binary {
		t.Errorf("/etc/release = %+v", fc)
	}
	fc = api.FileContent{}
	e.mustGet(t, img+"/file?path=/bin/sh", &fc)
	if !fc.Binary || fc.Text != "" || fc.Resolved != "/bin/busybox" {
		t.Errorf("/bin/sh = %+v", fc)
	}
	fc = api.FileContent{}
	e.mustGet(t, img+"/file?path=/app/config.yaml&layer=1", &fc)
	if fc.Text != "a: 1\n" {
		t.Errorf("config.yaml of layer 1 = %+v", fc)
	}
	var raw []byte
	e.mustGet(t, img+"/file?path="+url.QueryEscape(long)+"&download=1", &raw)
	if string(raw) != "deep" {
		t.Errorf("download = %q", raw)
	}
	if status, eb := e.get(t, "", "", img+"/file?path=/etc/hosts", nil); status != http.StatusNotFound {
		t.Errorf("whited-out file: %d %+v", status, eb)
	}

	// Once indexed, the image says so, with file counts on its build steps.
	e.mustGet(t, img, &ic)
	if !ic.Layers[0].Indexed || ic.Layers[0].Files != 5 || ic.Steps[1].Files != 5 {
		t.Errorf("after indexing: %+v %+v", ic.Layers[0], ic.Steps[1])
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, openRegistry(t), contents.Limits{})
	push(t, e.host, "look/inside", "v1", testLayers(t)[:1], nil)
	for _, c := range []struct {
		path string
		code api.Code
	}{
		{"/api/v1/contents/Look/Inside/-/image/v1", api.CodeNameInvalid},
		{"/api/v1/contents/look/inside/-/image/v1@", api.CodeTagInvalid},
		{"/api/v1/contents/look/inside/-/image/sha256:abc", api.CodeDigestInvalid},
		{"/api/v1/contents/look/inside/-/image/v1/layers/sha256:zz", api.CodeDigestInvalid},
		{"/api/v1/contents/look/inside/-/image/v1/layers/sha256:" + strings.Repeat("0", 64), api.CodeNotFound},
		{"/api/v1/contents/look/inside/-/image/v1/tree?path=etc", api.CodeBadRequest},
		{"/api/v1/contents/look/inside/-/image/v1?platform=nonsense", api.CodeBadRequest},
		{"/api/v1/contents/look/inside/-/image/v2", api.CodeNotFound},
		{"/api/v1/contents/look/inside/-/severities", api.CodeBadRequest},
		{"/api/v1/diff?from=look/inside&to=look/inside:v1", api.CodeBadRequest},
		{"/api/v1/contents/look/inside/image/v1", api.CodeNotFound},
	} {
		status, eb := e.get(t, "", "", c.path, nil)
		if eb.Error.Code != c.code || status != c.code.Status() {
			t.Errorf("GET %s = %d %+v; want %s", c.path, status, eb, c.code)
		}
	}
}

// TestIndexOnce: concurrent requests for one layer read it from the registry once, and a
// second replica over the same store never reads it again.
func TestIndexOnce(t *testing.T) {
	e := newEnv(t, openRegistry(t), contents.Limits{})
	layers := testLayers(t)
	push(t, e.host, "look/inside", "v1", layers, nil)
	push(t, e.host, "look/other", "v1", layers[:1], nil) // shares the base layer
	ld := layerDigests(t, layers...)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var tr api.Tree
			e.mustGet(t, "/api/v1/contents/look/inside/-/image/v1/tree?path=/", &tr)
		})
	}
	wg.Wait()
	for _, d := range ld {
		if n := e.blobs.get(d); n != 1 {
			t.Errorf("layer %s read %d times; want 1", d, n)
		}
	}
	e.serve(t) // a replica, its own memory, the same store
	var tr api.Tree
	e.mustGet(t, "/api/v1/contents/look/other/-/image/v1/tree?path=/etc", &tr)
	if n := e.blobs.get(ld[0]); n != 1 || len(tr.Entries) != 3 {
		t.Errorf("replica read the shared layer again (%d reads) or saw %+v", n, tr.Entries)
	}
}

func TestCorruptLayer(t *testing.T) {
	e := newEnv(t, openRegistry(t), contents.Limits{})
	whole := gz(t, tarOf(t, file("a", strings.Repeat("x", 100000)), file("b", "b")))
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"truncated", whole[:len(whole)/2]},
		{"garbage", append([]byte{0x1f, 0x8b}, bytes.Repeat([]byte{0xff}, 500)...)},
		{"not-tar", []byte(strings.Repeat("plain text, not a tar archive\n", 40))},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := layer{c.data, types.OCILayer, "RUN broken"}
			push(t, e.host, "look/broken", c.name, []layer{l}, nil)
			var lines []byte
			e.mustGet(t, "/api/v1/contents/look/broken/-/image/"+c.name+"/index", &lines)
			if !bytes.Contains(lines, []byte(`"type":"error"`)) || !bytes.Contains(lines, []byte("truncated or corrupt")) {
				t.Errorf("index stream = %s", lines)
			}
			status, eb := e.get(t, "", "", "/api/v1/contents/look/broken/-/image/"+c.name+"/tree", nil)
			if status != http.StatusBadGateway || !strings.Contains(eb.Error.Message, "truncated or corrupt") {
				t.Errorf("tree = %d %+v", status, eb)
			}
			stats, err := e.store.LayerIndexStats(t.Context(), layerDigests(t, l))
			if err != nil || len(stats) != 0 {
				t.Errorf("a partial index was stored: %+v, %v", stats, err)
			}
		})
	}
}

func TestIndexStream(t *testing.T) {
	e := newEnv(t, openRegistry(t), contents.Limits{})
	push(t, e.host, "look/inside", "v1", testLayers(t), nil)
	var lines []byte
	e.mustGet(t, "/api/v1/contents/look/inside/-/image/v1/index", &lines)
	got := strings.Split(strings.TrimSpace(string(lines)), "\n")
	var layers int
	for _, l := range got {
		if strings.Contains(l, `"type":"layer"`) {
			layers++
		}
	}
	if layers != 3 || !strings.Contains(got[len(got)-1], `"type":"done"`) {
		t.Errorf("stream = %s", lines)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t, openRegistry(t), contents.Limits{MaxEntries: 3, MaxPath: 20, MaxText: 5})
	push(t, e.host, "look/limits", "v1", []layer{gzLayer(t, "RUN x",
		file("a", "0123456789"), file("b", "b"), file(strings.Repeat("c", 30), "c"), file("d", "d"), file("e", "e"))}, nil)
	var lf api.LayerFiles
	e.mustGet(t, "/api/v1/contents/look/limits/-/image/v1/layers/"+layerDigests(t, gzLayer(t, "RUN x",
		file("a", "0123456789"), file("b", "b"), file(strings.Repeat("c", 30), "c"), file("d", "d"), file("e", "e")))[0], &lf)
	if !lf.Truncated || lf.Skipped != 2 || lf.Total != 3 {
		t.Errorf("capped layer = %+v", lf)
	}
	var fc api.FileContent
	e.mustGet(t, "/api/v1/contents/look/limits/-/image/v1/file?path=/a", &fc)
	if !fc.Truncated || fc.Text != "01234" {
		t.Errorf("capped text = %+v", fc)
	}
}

func TestInstruction(t *testing.T) {
	for in, want := range map[string]string{
		`/bin/sh -c #(nop)  CMD ["sh"]`:                         `CMD ["sh"]`,
		`/bin/sh -c #(nop) ADD file:0fd in / `:                  `ADD file:0fd in /`,
		`/bin/sh -c apk add --no-cache curl`:                    `RUN apk add --no-cache curl`,
		`|2 A=1 B=2 /bin/sh -c make`:                            `RUN make`,
		`RUN |1 VERSION=1.2 /bin/sh -c make install # buildkit`: `RUN make install`,
		`RUN /bin/sh -c set -eux; true # buildkit`:              `RUN set -eux; true`,
		`COPY /src /app # buildkit`:                             `COPY /src /app`,
		`ENV A=b`:                                               `ENV A=b`,
		`/bin/bash -c #(nop) WORKDIR /app`:                      `WORKDIR /app`,
	} {
		if got := contents.Instruction(in); got != want {
			t.Errorf("Instruction(%q) = %q; want %q", in, got, want)
		}
	}
}
