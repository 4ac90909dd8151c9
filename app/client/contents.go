package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-registry/berth/app/api"
)

// Image names one image for "Look inside": a repository, a tag or digest, and for an index
// the platform (os/arch[/variant]; empty for the first).
type Image struct {
	Repository string
	Reference  string
	Platform   string
}

// String renders repo:tag or repo@digest.
func (i Image) String() string {
	if api.IsDigest(i.Reference) {
		return i.Repository + "@" + i.Reference
	}
	return i.Repository + ":" + i.Reference
}

// path is the image's /api/v1/contents path, with what (tree, file …) appended.
func (i Image) path(what string, v url.Values) string {
	p := "/api/v1/contents/" + escapePath(i.Repository) + "/-/image/" + url.PathEscape(i.Reference)
	if what != "" {
		p += "/" + what
	}
	if v == nil {
		v = url.Values{}
	}
	if i.Platform != "" {
		v.Set("platform", i.Platform)
	}
	if len(v) > 0 {
		p += "?" + v.Encode()
	}
	return p
}

func (c *Berth) ImageContents(ctx context.Context, img Image) (api.ImageContents, error) {
	var out api.ImageContents
	err := c.do(ctx, http.MethodGet, img.path("", nil), nil, &out)
	return out, err
}

func (c *Berth) IndexImage(ctx context.Context, img Image, fn func(api.IndexEvent)) error {
	header := map[string]string{"Accept": "application/x-ndjson"}
	if token := bearerToken(); token != "" {
		header["Authorization"] = "Bearer " + token
	}
	resp, err := send(ctx, request{method: http.MethodGet, url: c.Base + img.path("index", nil), header: header})
	if err != nil {
		return &api.Error{Code: api.CodeOffline, Message: "Cannot reach the Berth server. Check your connection and try again."}
	}
	defer resp.body.Close()
	if resp.status != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.body, 1<<20))
		return errorFrom(resp, data)
	}
	sc := bufio.NewScanner(resp.body)
	for sc.Scan() {
		var e api.IndexEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return &api.Error{Code: api.CodeBadResponse, Message: fmt.Sprintf("indexing progress %q: %v", sc.Bytes(), err)}
		}
		if fn != nil {
			fn(e)
		}
		switch e.Type {
		case "done":
			return nil
		case "error":
			code := api.Code(e.Code)
			return &api.Error{Status: code.Status(), Code: code, Message: e.Error}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("indexing progress: %w", err)
	}
	return fmt.Errorf("indexing progress: %w", api.ErrStreamEnded)
}

func (c *Berth) LayerFiles(ctx context.Context, img Image, digest, query string, offset, limit int) (api.LayerFiles, error) {
	v := url.Values{}
	if query != "" {
		v.Set("q", query)
	}
	v.Set("offset", strconv.Itoa(offset))
	v.Set("limit", strconv.Itoa(limit))
	var out api.LayerFiles
	err := c.do(ctx, http.MethodGet, img.path("layers/"+url.PathEscape(digest), v), nil, &out)
	return out, err
}

func (c *Berth) Tree(ctx context.Context, img Image, dir, query string) (api.Tree, error) {
	v := url.Values{}
	if query != "" {
		v.Set("q", query)
	} else {
		v.Set("path", dir)
	}
	var out api.Tree
	err := c.do(ctx, http.MethodGet, img.path("tree", v), nil, &out)
	return out, err
}

func (c *Berth) File(ctx context.Context, img Image, path string, layer int) (api.FileContent, error) {
	var out api.FileContent
	err := c.do(ctx, http.MethodGet, img.path("file", fileQuery(path, layer)), nil, &out)
	return out, err
}

func (c *Berth) FileURL(img Image, path string, layer int) string {
	v := fileQuery(path, layer)
	v.Set("download", "1")
	return c.Base + img.path("file", v)
}

// fileQuery asks for path in the merged filesystem, or in layer when it is 0 or more.
func fileQuery(path string, layer int) url.Values {
	v := url.Values{"path": {path}}
	if layer >= 0 {
		v.Set("layer", strconv.Itoa(layer))
	}
	return v
}

func (c *Berth) SupplyChain(ctx context.Context, img Image) (api.SupplyChain, error) {
	var out api.SupplyChain
	err := c.do(ctx, http.MethodGet, img.path("supply-chain", nil), nil, &out)
	return out, err
}

func (c *Berth) Severities(ctx context.Context, repository string, digests []string) (api.SeverityBatch, error) {
	v := url.Values{"digest": digests}
	var out api.SeverityBatch
	err := c.do(ctx, http.MethodGet, "/api/v1/contents/"+escapePath(repository)+"/-/severities?"+v.Encode(), nil, &out)
	return out, err
}

func (c *Berth) Diff(ctx context.Context, q DiffQuery) (api.ImageDiff, error) {
	var out api.ImageDiff
	err := c.do(ctx, http.MethodGet, "/api/v1/diff?"+q.Values().Encode(), nil, &out)
	return out, err
}

// DiffQuery names the two images of a diff: repo:tag or repo@digest each, and the platform
// of an index (the same for both, or FromPlatform and ToPlatform apart).
type DiffQuery struct {
	From, To                           string
	Platform, FromPlatform, ToPlatform string
}

// Values is the query string of GET /api/v1/diff, and of the UI's diff page.
func (q DiffQuery) Values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("from", q.From)
	set("to", q.To)
	set("platform", q.Platform)
	set("fromPlatform", q.FromPlatform)
	set("toPlatform", q.ToPlatform)
	return v
}

// Direct mode reads only /v2: none of "Look inside" is there.

func (c *Direct) ImageContents(context.Context, Image) (api.ImageContents, error) {
	return api.ImageContents{}, errDirect("Image contents")
}

func (c *Direct) IndexImage(context.Context, Image, func(api.IndexEvent)) error {
	return errDirect("Image contents")
}

func (c *Direct) LayerFiles(context.Context, Image, string, string, int, int) (api.LayerFiles, error) {
	return api.LayerFiles{}, errDirect("Image contents")
}

func (c *Direct) Tree(context.Context, Image, string, string) (api.Tree, error) {
	return api.Tree{}, errDirect("Image contents")
}

func (c *Direct) File(context.Context, Image, string, int) (api.FileContent, error) {
	return api.FileContent{}, errDirect("Image contents")
}

func (c *Direct) FileURL(Image, string, int) string { return "" }

func (c *Direct) SupplyChain(context.Context, Image) (api.SupplyChain, error) {
	return api.SupplyChain{}, errDirect("SBOMs and vulnerability reports")
}

func (c *Direct) Severities(context.Context, string, []string) (api.SeverityBatch, error) {
	return api.SeverityBatch{}, errDirect("Vulnerability counts")
}

func (c *Direct) Diff(context.Context, DiffQuery) (api.ImageDiff, error) {
	return api.ImageDiff{}, errDirect("Image diffs")
}
