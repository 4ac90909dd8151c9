package registry

import (
	"fmt"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// Repository names and tags follow distribution's grammar, declared once in app/api (the UI
// checks the same as the user types); a digest is algorithm:hex.
var digestString = regexp.MustCompile(`^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$`)

// MaxNameLength bounds a repository name, as distribution does.
const MaxNameLength = api.MaxRepositoryLength

// ValidateRepository checks a repository name against distribution's grammar; the error is a
// 400 NAME_INVALID. Nothing that fails it is ever sent to a registry.
func ValidateRepository(name string) error {
	if api.RepositoryProblem(name) != "" {
		return httperr.New(api.CodeNameInvalid, fmt.Sprintf("%q is not a valid repository name: lowercase letters, digits and . _ - separators, components joined by single slashes, at most %d characters", clip(name), MaxNameLength))
	}
	return nil
}

// ValidateTag checks a tag; the error is a 400 TAG_INVALID.
func ValidateTag(tag string) error {
	if api.TagProblem(tag) != "" {
		return httperr.New(api.CodeTagInvalid, fmt.Sprintf("%q is not a valid tag: up to 128 letters, digits, _ . -, not starting with . or -", clip(tag)))
	}
	return nil
}

// ValidateDigest checks a digest; the error is a 400 DIGEST_INVALID.
func ValidateDigest(digest string) error {
	if !digestString.MatchString(digest) {
		return httperr.New(api.CodeDigestInvalid, fmt.Sprintf("%q is not a valid digest such as sha256:<64 hex digits>", clip(digest)))
	}
	return nil
}

// ValidateReference checks a tag or a digest, whichever ref looks like.
func ValidateReference(ref string) error {
	if IsDigest(ref) || strings.Contains(ref, ":") {
		return ValidateDigest(ref)
	}
	return ValidateTag(ref)
}

// IsDigest reports whether ref is a digest (algorithm:hex) rather than a tag. Tags cannot
// contain ':', so the separator alone decides; ValidateDigest says whether it is a good one.
func IsDigest(ref string) bool { return strings.Contains(ref, ":") }

// SplitReference splits repo:tag or repo@digest into the repository and the tag or digest,
// each validated. A bare repository gives ref "".
func SplitReference(s string) (repository, ref string, err error) {
	if i := strings.Index(s, "@"); i >= 0 {
		repository, ref = s[:i], s[i+1:]
		if err := ValidateDigest(ref); err != nil {
			return "", "", err
		}
	} else if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		repository, ref = s[:i], s[i+1:]
		if err := ValidateTag(ref); err != nil {
			return "", "", err
		}
	} else {
		repository = s
	}
	if err := ValidateRepository(repository); err != nil {
		return "", "", err
	}
	return repository, ref, nil
}

// JoinReference joins a repository and a tag or digest into repo:tag or repo@digest.
func JoinReference(repository, ref string) string {
	if IsDigest(ref) {
		return repository + "@" + ref
	}
	return repository + ":" + ref
}

// IsReferrerTag reports whether a tag is named after a digest: an OCI referrers fallback
// index or a cosign signature, attestation or SBOM. Such tags are accessories, not releases.
func IsReferrerTag(tag string) bool { return api.IsReferrerTag(tag) }

// ReferrerTagPrefix is the prefix of cosign's tags for the manifest with digest d
// (sha256-<hex>.), followed by sig, att or sbom.
func ReferrerTagPrefix(d v1.Hash) string { return d.Algorithm + "-" + d.Hex + "." }

// SubjectOfReferrerTag returns the digest a referrer tag is named after, if tag is one.
func SubjectOfReferrerTag(tag string) (string, bool) {
	subject, _, ok := api.ReferrerTag(tag)
	return subject, ok
}

// clip keeps an echoed name short and printable.
func clip(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.ToValidUTF8(s, "�")
}
