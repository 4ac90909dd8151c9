package charts

import (
	"bytes"
	"html"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/util"
)

// markdown renders chart READMEs. Without html.WithUnsafe goldmark drops raw HTML and
// javascript:/vbscript:/file:/data: links; rawHTMLAsText goes further and shows raw HTML as
// the text it is, so a README's <script> reads as code instead of vanishing silently.
var markdown = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithRendererOptions(renderer.WithNodeRenderers(util.Prioritized(rawHTMLAsText{}, 100))),
)

// maxReadme bounds the README bytes rendered; Helm's loader already bounds each file.
const maxReadme = 1 << 20

// renderReadme turns a chart's README into HTML safe to insert into the page.
func renderReadme(src []byte) string {
	if len(src) > maxReadme {
		src = src[:maxReadme]
	}
	var buf bytes.Buffer
	if err := markdown.Convert(src, &buf); err != nil {
		// Goldmark fails only on writer errors; show the text rather than nothing.
		return "<pre>" + html.EscapeString(string(src)) + "</pre>"
	}
	return buf.String()
}

// rawHTMLAsText renders HTML blocks and inline HTML escaped, as text.
type rawHTMLAsText struct{}

// RegisterFuncs replaces goldmark's raw HTML renderers (priority 100 beats its 1000).
func (rawHTMLAsText) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindHTMLBlock, renderHTMLBlock)
	reg.Register(ast.KindRawHTML, renderRawHTML)
}

func renderHTMLBlock(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	b := n.(*ast.HTMLBlock)
	_, _ = w.WriteString(`<pre class="raw-html"><code>`)
	lines := b.Lines()
	for i := range lines.Len() {
		seg := lines.At(i)
		_, _ = w.WriteString(html.EscapeString(string(seg.Value(source))))
	}
	if b.HasClosure() {
		_, _ = w.WriteString(html.EscapeString(string(b.ClosureLine.Value(source))))
	}
	_, _ = w.WriteString("</code></pre>\n")
	return ast.WalkSkipChildren, nil
}

func renderRawHTML(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkSkipChildren, nil
	}
	segs := n.(*ast.RawHTML).Segments
	for i := range segs.Len() {
		seg := segs.At(i)
		_, _ = w.WriteString(html.EscapeString(string(seg.Value(source))))
	}
	return ast.WalkSkipChildren, nil
}
