package store

import "testing"

// TestTrigramMatchSpreadsFewTrigrams: the FTS5 query asks for at most eight trigrams of the
// search, none overlapping but the last, from its first characters to its last (runes, not
// bytes; quotes doubled).
func TestTrigramMatchSpreadsFewTrigrams(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"abc", `"abc"`},
		{"abcd", `"abc" AND "bcd"`},
		{"abcdef", `"abc" AND "def"`},
		{"abcdefg", `"abc" AND "def" AND "efg"`},
		{"security/shipping/controller-jobs-and-more", `"sec" AND "uri" AND "shi" AND "ng/" AND "tro" AND "r-j" AND "-an" AND "ore"`},
		{`say "hi"`, `"say" AND " ""h" AND "hi"""`},
		{"café-crème", `"caf" AND "é-c" AND "rèm" AND "ème"`},
		{"ab", ``},
	} {
		if got := trigramMatch(c.in); got != c.want {
			t.Errorf("trigramMatch(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}
