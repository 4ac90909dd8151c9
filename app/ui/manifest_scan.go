package ui

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// The manifest page's "Scan now": it queues Berth's own scan of the manifest shown (an index
// is scanned whole, as on push) and follows its report until a newer one is stored, then
// tells the page to read the findings again. Only those who may push to the repository
// start scans; others see the button disabled with the reason.

// actionScanned tells the manifest page a scan it started ended.
const actionScanned = "berth.scanned"

// scanPoll is how often the report is asked for while a scan runs; scanWait bounds the wait.
const (
	scanPoll = time.Second
	scanWait = 10 * time.Minute
)

// scanControl is the button and what became of the last scan it started.
type scanControl struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	Repo, Reference, Digest string

	session api.Session
	may     string // "" when the caller may scan, else why not
	busy    bool
	status  string // what the live region says: queued, scanned, failed and why
	failed  bool
	job     string // the scan's job, followed on the jobs page
	gen     int
}

func (s *scanControl) OnMount(ctx app.Context) {
	s.home.mount(ctx)
	sessionOf(ctx, &s.session, s.loadAccess)
	s.loadAccess(ctx)
}

// loadAccess asks what the caller may do to the repository, where Berth's policy decides;
// without access control the registry decides, and the API's refusal is shown instead.
func (s *scanControl) loadAccess(ctx app.Context) {
	s.may = ""
	if !s.session.AccessControl || app.IsServer {
		return
	}
	repo := s.Repo
	ctx = s.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) (api.RepositoryAccess, error) { return a.Access(c, repo) },
		func(ctx app.Context, v api.RepositoryAccess, err error) {
			if err == nil && repo == s.Repo && !slices.Contains(v.Actions, "push") {
				s.may = "Scans are started by those who may push to " + repo + "; you may read its reports."
			}
		})
}

func (s *scanControl) Render() app.UI {
	if _, ok := apiClient().(client.Scanner); !ok || !writable() {
		return app.Span().Class("scan-none")
	}
	b := app.Button().Class("button small").ID("scan-now").Text("Scan now").OnClick(s.start)
	var why app.UI
	switch {
	case s.may != "":
		b = b.Disabled(true).Aria("describedby", "scan-why")
		why = app.Span().Class("hint").ID("scan-why").Text(s.may)
	case s.busy:
		b = b.Disabled(true).Text("Scanning…")
	}
	cls := "hint"
	if s.failed {
		cls = "error-message"
	}
	var job app.UI
	if s.job != "" {
		job = app.A().Class("hint").ID("scan-job").Href(jobURL(s.job)).Text("Follow the job")
	}
	return app.Div().Class("scan-control").Body(b, why,
		app.Span().Class(cls).ID("scan-status").Role("status").Aria("live", "polite").Text(s.status), job)
}

// start queues the scan and follows it.
func (s *scanControl) start(ctx app.Context, e app.Event) {
	sc, ok := apiClient().(client.Scanner)
	if !ok || s.busy || s.may != "" {
		return
	}
	s.gen++
	gen, repo, ref, digest := s.gen, s.Repo, s.Reference, s.Digest
	s.busy, s.failed, s.status, s.job = true, false, "Queueing the scan…", ""
	ctx = s.home.of(ctx)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), scanWait)
		defer cancel()
		prev, _ := sc.ScanReport(c, repo, digest)
		queued, err := sc.StartScan(c, repo, ref)
		if err == nil {
			ctx.Dispatch(func(ctx app.Context) {
				if gen == s.gen {
					s.status, s.job = "Scan queued; the findings show when it ends.", queued.Job
				}
			})
		}
		var rep api.ScanReport
		if err == nil {
			rep, err = awaitReport(c, sc, repo, queued.Digest, prev.Scanned)
		}
		ctx.Dispatch(func(ctx app.Context) { s.ended(ctx, gen, rep, err) })
	})
}

var errStillQueued = errors.New("it is still queued; its findings show here once it ends")

// awaitReport asks for digest's report until one newer than since is stored.
func awaitReport(c context.Context, sc client.Scanner, repo, digest string, since time.Time) (api.ScanReport, error) {
	t := time.NewTicker(scanPoll)
	defer t.Stop()
	for {
		select {
		case <-c.Done():
			return api.ScanReport{}, errStillQueued
		case <-t.C:
		}
		rep, err := sc.ScanReport(c, repo, digest)
		if err != nil {
			return rep, err
		}
		if rep.State != api.ScanNotScanned && rep.Scanned.After(since) {
			return rep, nil
		}
	}
}

// ended shows how the scan ended and has the page read the findings again.
func (s *scanControl) ended(ctx app.Context, gen int, rep api.ScanReport, err error) {
	if gen != s.gen {
		return
	}
	s.busy = false
	switch {
	case err != nil:
		s.failed, s.status = true, "The scan could not be run: "+err.Error()
	case rep.State == api.ScanFailed:
		s.failed, s.status = true, "The scan failed: "+rep.Error
	default:
		s.status = "Scanned: " + scanSummary(rep)
	}
	ctx.NewAction(actionScanned)
}

// scanSummary says what a finished scan found.
func scanSummary(rep api.ScanReport) string {
	if !rep.Database.Loaded {
		return plural(rep.Packages, "package") + " listed; no vulnerability database is loaded, so nothing was matched."
	}
	return plural(rep.Packages, "package") + ", " + severityText(rep.Severities) + " (" + rep.Database.Age + ")."
}

// refreshFindings reads the shown image's findings again, keeping the card (and the scan's
// status in it) on screen until the new ones replace it.
func (p *manifestPage) refreshFindings(ctx app.Context) {
	ctx = p.home.of(ctx)
	img, ok := p.shownImage()
	if !ok || p.supply.state != loaded {
		p.supply.forget()
		p.loadFindings(ctx)
		return
	}
	key := p.supply.key
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sc, err := apiClient().SupplyChain(c, img)
		ctx.Dispatch(func(ctx app.Context) {
			if err == nil && p.supply.key == key && p.supply.state == loaded {
				p.supply.v = sc
			}
		})
	})
}
