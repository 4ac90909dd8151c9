package api

import (
	"fmt"
	"regexp"
	"strings"
)

// Distribution's grammar (github.com/distribution/reference), shared by the server, which
// refuses what fails it, and the UI, which says why as the user types: lowercase path
// components separated by single slashes, each alphanumerics joined by '.', '_', '__' or
// dashes; a tag is up to 128 word characters, dots and dashes, not starting with either.
var (
	repositoryName = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagName        = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// referrerTag matches tags named after a digest: sha256-<hex> (the OCI referrers tag
	// schema's fallback index) and sha256-<hex>.sig/.att/.sbom (cosign).
	referrerTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}(\.[a-z]+)?$`)
)

// MaxRepositoryLength bounds a repository name, as distribution does; MaxTagLength a tag.
const (
	MaxRepositoryLength = 255
	MaxTagLength        = 128
)

// TagRule and RepositoryRule say what the grammar allows, in words.
const (
	TagRule        = "tags may only contain letters, digits, _ . - and start with a letter, digit or _; max 128"
	RepositoryRule = "repository names are lowercase letters and digits, joined by . _ __ or -, in parts separated by single slashes; max 255"
)

// RepositoryProblem says why name is not a valid repository name, or "" when it is.
func RepositoryProblem(name string) string {
	switch {
	case name == "":
		return "a repository name is required"
	case len(name) > MaxRepositoryLength:
		return fmt.Sprintf("%d characters: %s", len(name), RepositoryRule)
	case strings.ToLower(name) != name:
		return "uppercase letters: " + RepositoryRule
	case strings.ContainsAny(name, ":@"):
		return "no : or @ in a repository name; the tag goes in its own field"
	case !repositoryName.MatchString(name):
		return RepositoryRule
	}
	return ""
}

// TagProblem says why tag is not a valid tag, or "" when it is.
func TagProblem(tag string) string {
	switch {
	case tag == "":
		return "a tag is required"
	case len(tag) > MaxTagLength:
		return fmt.Sprintf("%d characters: %s", len(tag), TagRule)
	case !tagName.MatchString(tag):
		return TagRule
	}
	return ""
}

// Referrer tag kinds: what a tag named after another manifest's digest holds.
const (
	ReferrerSignature   = "signature"   // cosign's sha256-<hex>.sig
	ReferrerAttestation = "attestation" // cosign's sha256-<hex>.att
	ReferrerSBOM        = "SBOM"        // cosign's sha256-<hex>.sbom
	ReferrerIndex       = "referrers"   // sha256-<hex>: the OCI referrers tag schema's index
)

// IsReferrerTag reports whether a tag is named after a digest: an OCI referrers fallback
// index or a cosign signature, attestation or SBOM. Such tags belong to the image they are
// named after; they are not images, and counts of a repository's tags leave them out.
func IsReferrerTag(tag string) bool { return referrerTag.MatchString(tag) }

// ReferrerTag returns the digest a referrer tag is named after and what it holds; ok is
// false for any other tag.
func ReferrerTag(tag string) (subject, kind string, ok bool) {
	if !IsReferrerTag(tag) {
		return "", "", false
	}
	subject = "sha256:" + tag[len("sha256-"):len("sha256-")+64]
	switch suffix := tag[len("sha256-")+64:]; suffix {
	case "":
		kind = ReferrerIndex
	case ".sig":
		kind = ReferrerSignature
	case ".att":
		kind = ReferrerAttestation
	case ".sbom":
		kind = ReferrerSBOM
	default:
		kind = strings.TrimPrefix(suffix, ".")
	}
	return subject, kind, true
}

// CountTags splits a repository's tag names into images (every tag that is not a referrer
// tag) and referrer tags: the one definition of "how many tags" the catalog, the repository
// page and its delete dialog share.
func CountTags(names []string) (images, referrers int) {
	for _, n := range names {
		if IsReferrerTag(n) {
			referrers++
		} else {
			images++
		}
	}
	return images, referrers
}
