package ui

// An open repository page follows its repository: it waits on the server (a long poll with
// the token its last tag answer carried) and reads every tag again when they changed — a
// push or delete notified, a revalidation that found a moved tag, a tag list that differs.

import (
	"context"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

const (
	// changeSettle lets a burst of pushes settle before the tags are read again.
	changeSettle = 2 * time.Second
	// changeRetry is how long a failed wait (or a tab in the background) waits before the next.
	changeRetry = 15 * time.Second
	// changePause separates waits that ended unchanged.
	changePause = time.Second
)

// tagChanges is a page's wait for its repository's changes.
type tagChanges struct {
	token   string // the last tag answer's (api.TagPage.Changes)
	waiting bool
	cancel  context.CancelFunc
}

// stop ends the wait under way (the page goes away).
func (c *tagChanges) stop() {
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	c.waiting = false
}

// followChanges starts waiting for a change of the repository, unless a wait runs or the
// last answer carried no token (a server without it, direct mode).
func (p *repositoryPage) followChanges(ctx app.Context) {
	if app.IsServer || p.changes.waiting || p.changes.token == "" {
		return
	}
	ctx = p.home.of(ctx)
	if app.Window().Get("document").Get("visibilityState").String() == "hidden" {
		// A tab in the background holds no connection (browsers allow a few per host): it
		// looks again a little later, and the wait's token still catches what changed.
		p.retryChanges(ctx)
		return
	}
	gen, name, since := p.gen, p.name, p.changes.token
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	p.changes.waiting, p.changes.cancel = true, cancel
	ctx.Async(func() {
		defer cancel()
		res, err := apiClient().WaitChanges(c, name, since)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen || !p.changes.waiting {
				return // another load took over, or the page went away
			}
			p.changes.waiting, p.changes.cancel = false, nil
			switch code := api.ErrorCode(err); {
			case code == api.CodeDirectMode || code == api.CodeNotAvailable || code == api.CodeNotFound:
				// Not offered here (or the repository is gone: the page says so on its next read).
			case err != nil:
				p.retryChanges(ctx)
			case res.Changed:
				ctx.After(changeSettle, func(ctx app.Context) {
					if gen == p.gen {
						p.fetchAll(ctx, false) // carries the next token, and waits again
					}
				})
			default:
				// Waited out (or answered at once by a server shutting down, or holding too
				// many waits): the next wait a moment later, with the token, misses nothing.
				p.changes.token = res.Changes
				ctx.After(changePause, func(ctx app.Context) {
					if gen == p.gen {
						p.followChanges(ctx)
					}
				})
			}
		})
	})
}

// retryChanges follows the repository again after changeRetry (a failed wait or read, or a
// tab in the background).
func (p *repositoryPage) retryChanges(ctx app.Context) {
	gen := p.gen
	ctx.After(changeRetry, func(ctx app.Context) {
		if gen == p.gen {
			p.followChanges(ctx)
		}
	})
}
