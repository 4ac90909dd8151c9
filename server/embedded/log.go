package embedded

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/sirupsen/logrus"
)

var routeOnce sync.Once

// routeLogsToSlog sends distribution's logging to slog at debug level.
//
// distribution logs through the process-wide logrus standard logger (its own logger lives in
// an internal package, and storage code calls logrus.Infof directly), at info level, to
// stderr, one line per request. NewApp never reads configuration.Log — only
// registry.NewRegistry does — so the only lever is the global logrus logger itself. Nothing
// else in Berth uses logrus, so taking it over is safe.
func routeLogsToSlog() {
	routeOnce.Do(func() {
		std := logrus.StandardLogger()
		std.SetOutput(io.Discard)
		// Output is discarded anyway; skip the text formatting work for every line.
		std.SetFormatter(nopFormatter{})
		std.AddHook(slogHook{})
	})
}

type nopFormatter struct{}

func (nopFormatter) Format(*logrus.Entry) ([]byte, error) { return nil, nil }

// slogHook forwards logrus entries to slog.Default(), looked up per entry so a logger installed
// after New still receives them.
type slogHook struct{}

func (slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (slogHook) Fire(e *logrus.Entry) error {
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	logger := slog.Default()
	if !logger.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	attrs := make([]slog.Attr, 0, len(e.Data)+2)
	attrs = append(attrs, slog.String("component", "distribution"), slog.String("distribution.level", e.Level.String()))
	// Sorted so repeated lines read the same way.
	for _, k := range slices.Sorted(maps.Keys(e.Data)) {
		attrs = append(attrs, slog.Any(k, e.Data[k]))
	}
	logger.LogAttrs(ctx, slog.LevelDebug, e.Message, attrs...)
	return nil
}
