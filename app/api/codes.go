package api

// Code is a stable, machine-readable error code of the /api error body. Every code Berth
// answers with is declared here, once, with the HTTP status it goes with, the way
// distribution registers its error codes; clients branch on the code, people read the message.
type Code string

// The error codes of /api. A code's status is fixed: the same code never comes with two
// different statuses.
const (
	// CodeBadRequest: a parameter, query or body is malformed or out of range.
	CodeBadRequest Code = "BAD_REQUEST"
	// CodeNameInvalid: a repository name outside distribution's grammar.
	CodeNameInvalid Code = "NAME_INVALID"
	// CodeTagInvalid: a tag outside distribution's grammar.
	CodeTagInvalid Code = "TAG_INVALID"
	// CodeDigestInvalid: a digest that is not algorithm:hex of the right length.
	CodeDigestInvalid Code = "DIGEST_INVALID"
	// CodeMissingCredentials: a sign-in without username or password.
	CodeMissingCredentials Code = "MISSING_CREDENTIALS"
	// CodeMalformedEnvelope: a registry notification that is not a valid envelope.
	CodeMalformedEnvelope Code = "MALFORMED_ENVELOPE"
	// CodeUnauthorized: sign in (or sign in as someone else) to do this.
	CodeUnauthorized Code = "UNAUTHORIZED"
	// CodeInvalidCredentials: the registry or Berth rejected a username and password.
	CodeInvalidCredentials Code = "INVALID_CREDENTIALS"
	// CodeDenied: signed in, but not allowed to do this.
	CodeDenied Code = "DENIED"
	// CodeReadOnly: Berth runs with --read-only.
	CodeReadOnly Code = "READ_ONLY"
	// CodeNotAvailable: the feature needs something this deployment does not run (the embedded
	// registry, the metadata index); asking again will not help, unlike CodeNotFound's "no such
	// thing".
	CodeNotAvailable Code = "NOT_AVAILABLE"
	// CodeNotFound: no such repository, tag, manifest or endpoint.
	CodeNotFound Code = "NOT_FOUND"
	// CodeJobUnknown: no such job (or not one of yours).
	CodeJobUnknown Code = "JOB_UNKNOWN"
	// CodeMethodNotAllowed: the endpoint exists, the method does not.
	CodeMethodNotAllowed Code = "METHOD_NOT_ALLOWED"
	// CodeConflict: the thing exists already, or changed under the request.
	CodeConflict Code = "CONFLICT"
	// CodeTooLarge: a request body or upload over its limit, or a repository too large for an
	// answer computed per request.
	CodeTooLarge Code = "TOO_LARGE"
	// CodeUnsupportedMediaType: a body in a format the endpoint does not take.
	CodeUnsupportedMediaType Code = "UNSUPPORTED_MEDIA_TYPE"
	// CodeTooManyRequests: throttled (sign-in attempts, running jobs); see Retry-After.
	CodeTooManyRequests Code = "TOO_MANY_REQUESTS"
	// CodeInternal: a fault in Berth; the details are in its log only.
	CodeInternal Code = "INTERNAL"
	// CodeRegistryError: the registry answered with an error Berth cannot pass on as is.
	CodeRegistryError Code = "REGISTRY_ERROR"
	// CodeRegistryUnavailable: the registry cannot be reached, or is not answering (its
	// circuit breaker is open).
	CodeRegistryUnavailable Code = "REGISTRY_UNAVAILABLE"
	// CodeRegistryTimeout: the registry did not answer within the upstream timeout.
	CodeRegistryTimeout Code = "REGISTRY_TIMEOUT"
	// CodeStoreUnavailable: the event store (SQLite/PostgreSQL) failed.
	CodeStoreUnavailable Code = "STORE_UNAVAILABLE"
	// CodeSessionStoreUnavailable: the shared session store (Redis) failed.
	CodeSessionStoreUnavailable Code = "SESSION_STORE_UNAVAILABLE"
	// CodeDirectoryUnavailable: the LDAP directory that signs users in cannot be reached.
	CodeDirectoryUnavailable Code = "DIRECTORY_UNAVAILABLE"
	// CodeCanceled: the caller went away before the answer was ready (499, as nginx logs it;
	// nobody reads it, but the log no longer calls it a server error).
	CodeCanceled Code = "CANCELED"

	// The codes below never come from the server: the browser client reports them.

	// CodeOffline: the Berth server (or the registry proxy) cannot be reached.
	CodeOffline Code = "OFFLINE"
	// CodeBadResponse: the server answered something the UI cannot read.
	CodeBadResponse Code = "BAD_RESPONSE"
	// CodeDirectMode: the page needs a Berth server; this UI reads the registry directly.
	CodeDirectMode Code = "DIRECT_MODE"
)

// Status is the HTTP status that goes with the code (0 for client-side codes).
func (c Code) Status() int {
	switch c {
	case CodeBadRequest, CodeNameInvalid, CodeTagInvalid, CodeDigestInvalid, CodeMissingCredentials, CodeMalformedEnvelope, CodeNotAvailable:
		return 400
	case CodeUnauthorized, CodeInvalidCredentials:
		return 401
	case CodeDenied, CodeReadOnly:
		return 403
	case CodeNotFound, CodeJobUnknown:
		return 404
	case CodeMethodNotAllowed:
		return 405
	case CodeConflict:
		return 409
	case CodeTooLarge:
		return 413
	case CodeUnsupportedMediaType:
		return 415
	case CodeTooManyRequests:
		return 429
	case CodeCanceled:
		return 499
	case CodeInternal:
		return 500
	case CodeRegistryError:
		return 502
	case CodeRegistryUnavailable, CodeStoreUnavailable, CodeSessionStoreUnavailable, CodeDirectoryUnavailable:
		return 503
	case CodeRegistryTimeout:
		return 504
	}
	return 0
}
