package scan

import "testing"

// TestSourceNameHidesCredentials: the database's URL is shown and logged without what may be
// a credential (user info, a signed query).
func TestSourceNameHidesCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"https://mirror.example.com/osv/all.zip":                       "https://mirror.example.com/osv/all.zip",
		"https://robot:s3cret@mirror.example.com/osv/all.zip":          "https://mirror.example.com/osv/all.zip",
		"https://bucket.example.com/all.zip?X-Amz-Signature=abc&exp=1": "https://bucket.example.com/all.zip",
	} {
		if got := sourceName(in); got != want {
			t.Errorf("sourceName(%q) = %q, want %q", in, got, want)
		}
	}
}
