package ui

import (
	"context"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// fetched is one piece of data a page loads: its state, what it was loaded for (key), and
// a generation that makes late answers for an older key be dropped.
type fetched[T any] struct {
	state loadState
	key   string
	err   error
	v     T
	gen   int
}

// load fetches get's answer for key in the background, unless that is what f holds or is
// fetching already; done runs, in the UI goroutine, once the answer is in f.
func (f *fetched[T]) load(ctx app.Context, key string, get func(context.Context) (T, error), done func(ctx app.Context)) {
	if f.key == key && f.state != failed {
		return
	}
	f.gen++
	gen := f.gen
	f.key, f.state, f.err = key, loading, nil
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		v, err := get(c)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != f.gen {
				return
			}
			if err != nil {
				f.state, f.err = failed, err
			} else {
				f.state, f.v = loaded, v
			}
			if done != nil {
				done(ctx)
			}
		})
	})
}

// forget drops what f holds, and any answer still on its way.
func (f *fetched[T]) forget() {
	var zero T
	f.gen++
	f.key, f.state, f.err, f.v = "", loading, nil, zero
}
