package api

import "strconv"

// Plural counts n of noun: "1 blob", "2 blobs". Nouns that take -es or change are written
// out whole with PluralOf.
func Plural(n int, noun string) string {
	return PluralOf(n, noun, noun+"s")
}

// PluralOf counts n with the singular or the plural given.
func PluralOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
