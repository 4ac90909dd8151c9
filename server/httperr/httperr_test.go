package httperr

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCanceledCallerIsNotAServerError: a request whose caller went away while the answer was
// built gets 499 CANCELED (the log's word for it), not a 500; the same error for a caller
// still waiting stays an internal error, whose cause never reaches the answer.
func TestCanceledCallerIsNotAServerError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := fmt.Errorf("tag a/b:v1: %w", context.Canceled)
	for _, tc := range []struct {
		ctx    context.Context
		status int
		code   string
	}{
		{ctx, 499, `"CANCELED"`},
		{context.Background(), 500, `"INTERNAL"`},
	} {
		rec := httptest.NewRecorder()
		Write(rec, httptest.NewRequestWithContext(tc.ctx, http.MethodGet, "/api/v1/x", nil), err)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.code) || strings.Contains(rec.Body.String(), "a/b") {
			t.Errorf("status %d, body %s; want %d with %s and no cause", rec.Code, rec.Body.String(), tc.status, tc.code)
		}
	}
}
