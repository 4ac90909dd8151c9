package scan

import (
	"context"
	"fmt"
	"log/slog"

	scalibrlog "github.com/google/osv-scalibr/log"
)

// SCALIBR logs every walk and every ecosystem without a database through its own logger;
// Berth's logs get it at debug level, and its warnings and errors at debug too: a scan's
// outcome is reported once, by the job.
func init() { scalibrlog.SetLogger(debugLog{}) }

type debugLog struct{}

func (debugLog) log(msg string) {
	slog.Log(context.Background(), slog.LevelDebug, msg, "component", "scalibr")
}

func (l debugLog) Errorf(format string, args ...any) { l.log(fmt.Sprintf(format, args...)) }
func (l debugLog) Error(args ...any)                 { l.log(fmt.Sprint(args...)) }
func (l debugLog) Warnf(format string, args ...any)  { l.log(fmt.Sprintf(format, args...)) }
func (l debugLog) Warn(args ...any)                  { l.log(fmt.Sprint(args...)) }
func (l debugLog) Infof(format string, args ...any)  { l.log(fmt.Sprintf(format, args...)) }
func (l debugLog) Info(args ...any)                  { l.log(fmt.Sprint(args...)) }
func (l debugLog) Debugf(format string, args ...any) { l.log(fmt.Sprintf(format, args...)) }
func (l debugLog) Debug(args ...any)                 { l.log(fmt.Sprint(args...)) }
