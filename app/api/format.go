package api

import (
	"fmt"
	"strings"
)

// HumanSize renders a byte count the way docker does (decimal units).
func HumanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// IsDigest reports whether ref is a digest (algorithm:hex) rather than a tag.
func IsDigest(ref string) bool {
	alg, hex, ok := strings.Cut(ref, ":")
	return ok && alg != "" && hex != "" && !strings.ContainsAny(alg, "/@")
}

// JoinReference makes repo:tag, or repo@digest when ref is a digest.
func JoinReference(repo, ref string) string {
	if IsDigest(ref) {
		return repo + "@" + ref
	}
	return repo + ":" + ref
}

// SplitReference splits repo:tag or repo@digest; ref is "" for a bare repository name. A
// colon before the last slash belongs to a registry host with a port, not to a tag.
func SplitReference(s string) (repo, ref string) {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		return s[:i], s[i+1:]
	}
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// ShortDigest renders sha256:0123456789abcdef… as its first 12 hex digits.
func ShortDigest(d string) string {
	const prefix = "sha256:"
	if len(d) > len(prefix)+12 && strings.HasPrefix(d, prefix) {
		return d[len(prefix) : len(prefix)+12]
	}
	return d
}
