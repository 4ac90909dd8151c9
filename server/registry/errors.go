package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// explain turns an error from a registry request about what ("tag team/app:1.0") into
// Berth's error: the registry's 401/403 stays 401, 404 stays 404, a registry that does not
// allow deletes is 405 with the setting to change, a timeout is 504, anything else the
// registry answered or an unreachable registry is 502. Errors already translated, and
// cancellations, pass through. The registry's own message is kept short and printable, never
// its whole body.
func (c *Client) explain(err error, what string) error {
	if err == nil {
		return nil
	}
	var he *httperr.Error
	if errors.As(err, &he) || errors.Is(err, context.Canceled) {
		return err
	}
	var te *transport.Error
	reg := c.addr.Host
	switch {
	case errors.Is(err, ErrNotAnswering):
		return httperr.Wrap(api.CodeRegistryUnavailable, fmt.Sprintf("Cannot reach the registry at %s: it is not answering; Berth checks it in the background and goes on once it answers.", reg), err)
	case errors.As(err, &te) && (hasCode(te, transport.UnsupportedErrorCode) || te.StatusCode == http.StatusMethodNotAllowed):
		return httperr.Wrap(api.CodeMethodNotAllowed, fmt.Sprintf("%s: the registry at %s does not allow deletes (distribution needs storage.delete.enabled: true, REGISTRY_STORAGE_DELETE_ENABLED=true).", what, reg), err)
	case errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden):
		return httperr.Wrap(api.CodeUnauthorized, fmt.Sprintf("The registry at %s refused access to %s.", reg, what), err)
	case errors.As(err, &te) && te.StatusCode == http.StatusNotFound:
		return httperr.Wrap(api.CodeNotFound, fmt.Sprintf("There is no %s in the registry at %s.", what, reg), err)
	case errors.As(err, &te) && te.StatusCode == http.StatusTooManyRequests:
		return httperr.Wrap(api.CodeRegistryError, fmt.Sprintf("The registry at %s is throttling requests (%s); try again shortly.", reg, what), err)
	case errors.As(err, &te):
		return httperr.Wrap(api.CodeRegistryError, fmt.Sprintf("Reading %s: %s.", what, Describe(err)), err)
	case httperr.Timeout(err):
		return httperr.Wrap(api.CodeRegistryTimeout, fmt.Sprintf("The registry at %s did not answer in time (%s).", reg, what), err)
	case errors.Is(err, ErrNotAllowed):
		return httperr.Wrap(api.CodeUnauthorized, "Sign in to make changes: Berth does not write with its own registry credentials.", err)
	default:
		return httperr.Wrap(api.CodeRegistryUnavailable, fmt.Sprintf("Cannot reach the registry at %s (%s): %s.", reg, what, short(httperr.Reason(err))), err)
	}
}

func hasCode(te *transport.Error, code transport.ErrorCode) bool {
	for _, d := range te.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// Status returns the HTTP status a registry answered with inside err, or 0.
func Status(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	var he *httperr.Error
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}

// Describe shortens an error for a per-row message: the registry's status and its first
// error's message, clipped; never a whole response body.
func Describe(err error) string {
	var te *transport.Error
	if errors.As(err, &te) {
		if len(te.Errors) > 0 {
			return fmt.Sprintf("registry answered %d: %s", te.StatusCode, short(te.Errors[0].Message))
		}
		return fmt.Sprintf("registry answered %d", te.StatusCode)
	}
	var he *httperr.Error
	if errors.As(err, &he) {
		return he.Message
	}
	return short(err.Error())
}

// short keeps a message from a registry to one printable line of at most 200 characters:
// an attacker-controlled registry must not get its page echoed into Berth's answers.
func short(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

var errInvalidCredentials = httperr.New(api.CodeInvalidCredentials, "The registry rejected that username or password.")
