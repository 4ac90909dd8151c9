package api

import "errors"

// ErrorBody is the JSON body of every /api error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody: a stable code and a sentence for people.
type ErrorDetail struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Error is an /api error as a client receives it.
type Error struct {
	// Status is the HTTP status; 0 when the server could not be reached at all.
	Status  int
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// ErrorCode returns the code of err when it is (or wraps) an *Error, and "" otherwise.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// CodeForStatus is the code a client reports for an error answer without a JSON body (a
// gateway's page, say): the declared code that goes with the status, or CodeBadResponse.
func CodeForStatus(status int) Code {
	switch status {
	case 400:
		return CodeBadRequest
	case 401:
		return CodeUnauthorized
	case 403:
		return CodeDenied
	case 404:
		return CodeNotFound
	case 429:
		return CodeTooManyRequests
	case 502, 503:
		return CodeRegistryUnavailable
	case 504:
		return CodeRegistryTimeout
	}
	return CodeBadResponse
}
