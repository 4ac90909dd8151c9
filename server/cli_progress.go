package main

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/berth-registry/berth/app/api"
)

// printer shows a job's events on stderr: on a terminal one progress bar per blob, drawn
// together as docker pull draws its layers, with messages printed above them; otherwise
// plain lines, one per message and one per blob when it is done.
type printer struct {
	c *cli
	// doing and done name what happens to a blob: "Pushing", "Pushed".
	doing, done string

	mu    sync.Mutex
	bars  *mpb.Progress // nil when stderr is not a terminal
	blobs map[string]*mpb.Bar
	ended map[string]bool // plain: blobs whose line is printed
}

func (c *cli) newPrinter(doing, done string) *printer {
	p := &printer{c: c, doing: doing, done: done, blobs: map[string]*mpb.Bar{}, ended: map[string]bool{}}
	if isTerminal(c.err) {
		p.bars = mpb.New(mpb.WithOutput(c.err), mpb.WithWidth(40), mpb.WithRefreshRate(120*time.Millisecond))
	}
	return p
}

// report takes one event; jobs call it from several goroutines.
func (p *printer) report(e api.JobEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Type == api.EventProgress {
		if p.bars != nil {
			p.bar(e)
		} else if !p.ended[e.Blob] && e.Done >= e.Total {
			p.ended[e.Blob] = true
			p.line(fmt.Sprintf("%s: %s %s", shortID(e.Blob), p.done, api.HumanSize(e.Total)))
		}
		return
	}
	if e.Message != "" {
		msg := p.c.say(e.Message)
		p.c.shown[msg] = true
		p.line(msg)
	}
}

// line prints a line, above the bars when they are drawn.
func (p *printer) line(s string) {
	if p.bars != nil {
		// Printed with the bars' next refresh.
		_, _ = fmt.Fprintln(p.bars, s)
		return
	}
	fmt.Fprintln(p.c.err, s)
}

// bar moves the blob's bar, adding it on its first event.
func (p *printer) bar(e api.JobEvent) {
	b, ok := p.blobs[e.Blob]
	if !ok {
		style := mpb.BarStyle().Lbound("[").Filler("=").Tip(">").Padding(" ").Rbound("]")
		b = p.bars.New(e.Total, style,
			mpb.PrependDecorators(decor.Name(shortID(e.Blob)+": "), decor.Any(p.state, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.Any(sizes)),
			mpb.BarFillerClearOnComplete(),
		)
		p.blobs[e.Blob] = b
	}
	b.SetCurrent(e.Done)
	if e.Done >= e.Total {
		b.SetTotal(-1, true) // a blob of unknown or zero size completes too
	}
}

// state says what happens to a bar's blob.
func (p *printer) state(s decor.Statistics) string {
	switch {
	case s.Completed:
		return p.done
	case s.Aborted:
		return "Stopped"
	}
	return p.doing
}

// sizes shows a bar's bytes in the units HumanSize uses everywhere else: bytes done of the
// blob's size, or the size alone once it is done.
func sizes(s decor.Statistics) string {
	if s.Completed {
		return api.HumanSize(s.Total)
	}
	return api.HumanSize(s.Current) + " / " + api.HumanSize(s.Total)
}

// end stops the bars: blobs the job did not finish stay drawn where they stopped.
func (p *printer) end() {
	p.mu.Lock()
	bars := p.bars
	for _, b := range p.blobs {
		if !b.Completed() {
			b.Abort(false)
		}
	}
	p.mu.Unlock()
	if bars != nil {
		bars.Wait()
	}
}

// shortID is a blob digest's first 12 hex digits, as docker shows layers.
func shortID(d string) string {
	_, hex, ok := strings.Cut(d, ":")
	if !ok {
		hex = d
	}
	if len(hex) > 12 {
		return hex[:12]
	}
	return hex
}
