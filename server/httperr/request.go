package httperr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/app/api"
)

// DecodeJSON reads r's body as one JSON value into v: the body must be application/json
// (415 otherwise), at most max bytes (413), well formed with no unknown fields and nothing
// after the value (400, saying what is wrong without echoing the body, which may hold a
// password). what names the body in messages ("the job request").
func DecodeJSON(w http.ResponseWriter, r *http.Request, max int64, what string, v any) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return New(api.CodeUnsupportedMediaType, "Send "+what+" as application/json.")
	}
	// A client that declares a body and stalls does not hold the handler: the body must arrive
	// within a bounded time.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Anything after the value — a second value, or a stray "}" that dec.More would not
		// report — makes the body something other decoders may read differently: refuse it.
		if _, next := dec.Token(); next != io.EOF {
			err = errors.New("json: something follows the value")
			if _, ok := errors.AsType[*http.MaxBytesError](next); ok {
				err = next
			}
		}
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return New(api.CodeTooLarge, fmt.Sprintf("%s is larger than %d bytes.", capitalize(what), max))
		}
		return Wrap(api.CodeBadRequest, fmt.Sprintf("%s is not valid JSON: %s.", capitalize(what), JSONProblem(err)), err)
	}
	return nil
}

// bodyTimeout bounds reading a JSON request body.
const bodyTimeout = 30 * time.Second

// Page is a list request's window.
type Page struct {
	Offset, Limit int
}

// Paging reads ?offset= and ?limit= (limit defaulting to def, at most max).
func Paging(r *http.Request, def, max int) (Page, error) {
	q := r.URL.Query()
	p := Page{Limit: def}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > max {
			return Page{}, New(api.CodeBadRequest, "limit must be a number from 1 to "+strconv.Itoa(max))
		}
		p.Limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Page{}, New(api.CodeBadRequest, "offset must be a number of 0 or more")
		}
		p.Offset = n
	}
	return p, nil
}

func capitalize(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
