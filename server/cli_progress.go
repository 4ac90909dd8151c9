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
	c        *cli
	terminal bool
	// doing and done name what happens to a blob: "Pushing", "Pushed".
	doing, done string

	mu sync.Mutex
	// bars draws the blobs in flight; nil when none are (messages then print directly).
	bars  *mpb.Progress
	live  map[string]*mpb.Bar
	ended map[string]bool // blobs shown as done
}

func (c *cli) newPrinter(doing, done string) *printer {
	return &printer{c: c, terminal: isTerminal(c.err), doing: doing, done: done, ended: map[string]bool{}}
}

// report takes one event; jobs call it from several goroutines.
func (p *printer) report(e api.JobEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case e.Type != api.EventProgress:
		if e.Message != "" {
			msg := p.c.say(e.Message)
			p.c.shown[msg] = true
			p.line(msg)
		}
	case p.ended[e.Blob]:
	case p.terminal:
		p.bar(e)
	case e.Done >= e.Total:
		p.ended[e.Blob] = true
		p.line(fmt.Sprintf("%s: %s %s", shortID(e.Blob), p.done, api.HumanSize(e.Total)))
	}
}

// line prints a line, above the bars while they are drawn.
func (p *printer) line(s string) {
	if p.bars != nil {
		// Printed with the bars' next refresh, which the bars in flight make sure of.
		_, _ = fmt.Fprintln(p.bars, s)
		return
	}
	fmt.Fprintln(p.c.err, s)
}

// bar moves the blob's bar, adding it (and the bars, for the first blob) on its first event.
// When the last blob in flight is done the bars are drawn a last time and let go.
func (p *printer) bar(e api.JobEvent) {
	if p.bars == nil {
		p.bars = mpb.New(mpb.WithOutput(p.c.err), mpb.WithWidth(40), mpb.WithRefreshRate(120*time.Millisecond))
		p.live = map[string]*mpb.Bar{}
	}
	b, ok := p.live[e.Blob]
	if !ok {
		style := mpb.BarStyle().Lbound("[").Filler("=").Tip(">").Padding(" ").Rbound("]")
		b = p.bars.New(e.Total, style,
			mpb.PrependDecorators(decor.Name(shortID(e.Blob)+": "), decor.Any(p.state, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.Any(sizes)),
			mpb.BarFillerClearOnComplete(),
		)
		p.live[e.Blob] = b
	}
	b.SetCurrent(e.Done)
	if e.Done < e.Total {
		return
	}
	b.SetTotal(-1, true) // a blob of unknown or zero size completes too
	p.ended[e.Blob] = true
	for blob := range p.live {
		if !p.ended[blob] {
			return
		}
	}
	p.bars.Wait()
	p.bars = nil
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
	defer p.mu.Unlock()
	if p.bars == nil {
		return
	}
	for blob, b := range p.live {
		if !p.ended[blob] {
			b.Abort(false)
		}
	}
	p.bars.Wait()
	p.bars = nil
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
