package auth

import (
	"errors"

	"github.com/berth-registry/berth/server/httperr"
)

// publicMessage is the part of err a person may read: an *httperr.Error's message, or a
// generic sentence (internal details stay in the log).
func publicMessage(err error) string {
	var he *httperr.Error
	if errors.As(err, &he) {
		return he.Message
	}
	return "Something went wrong; see Berth's log."
}
