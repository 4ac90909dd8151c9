// Package httperr is the one place where Berth turns errors into HTTP responses: the
// {"error":{"code","message"}} body of /api and the registry's {"errors":[…]} body of /v2.
package httperr

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/app/api"
)

// Error is an error with the stable code (and so the HTTP status) it is reported with.
type Error struct {
	// Status is the HTTP status code: Code's.
	Status int
	// Code is a stable, machine-readable code declared in app/api.
	Code api.Code
	// Message is a sentence for the person using the UI.
	Message string
	// Err is the cause, kept for logs and errors.Is/As.
	Err error
	// RetryAfter, when set, is sent as Retry-After (throttled or busy).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error with the given code, its status, and message.
func New(code api.Code, message string) *Error {
	return &Error{Status: code.Status(), Code: code, Message: message}
}

// Wrap returns an *Error carrying cause.
func Wrap(code api.Code, message string, cause error) *Error {
	return &Error{Status: code.Status(), Code: code, Message: message, Err: cause}
}

// Is reports whether err is an *Error with the given code.
func Is(err error, code api.Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Write sends err as an /api JSON error. Errors that are not *Error become 500s whose details
// go to the log only, so internal messages never reach the browser.
func Write(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, context.DeadlineExceeded):
		// A request's own deadline ran out while it waited on the registry.
		e = Wrap(api.CodeRegistryTimeout, "The registry did not answer in time.", err)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		e = Wrap(api.CodeCanceled, "The request was canceled.", err)
	default:
		e = Wrap(api.CodeInternal, "internal error", err)
	}
	level := slog.LevelDebug
	if e.Status >= 500 {
		level = slog.LevelWarn
	}
	slog.Log(r.Context(), level, "request failed", "status", e.Status, "code", e.Code, "err", e.Error())
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	var b api.ErrorBody
	b.Error.Code = api.Code(e.Code)
	b.Error.Message = e.Message
	WriteJSON(w, e.Status, b)
}

// RegistryError is one entry of the registry's error format.
type RegistryError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// WriteRegistry sends an error in the registry's own {"errors":[…]} format, for /v2 clients.
func WriteRegistry(w http.ResponseWriter, status int, code, message string, detail any) {
	WriteJSON(w, status, struct {
		Errors []RegistryError `json:"errors"`
	}{[]RegistryError{{Code: code, Message: message, Detail: detail}}})
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Timeout reports whether err is a deadline or network timeout, which maps to 504.
func Timeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Reason shortens a transport error to its most specific part ("connection refused",
// "timeout"), which says what is wrong without echoing request URLs.
func Reason(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	if Timeout(err) {
		return "timeout"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// JSONProblem says what is wrong with a JSON request body without echoing it (it may hold a
// password).
func JSONProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error"
	case errors.As(err, &te):
		return "field " + te.Field + " has the wrong type"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is empty or cut short"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "it cannot be read"
}
