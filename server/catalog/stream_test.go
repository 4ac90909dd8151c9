package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
)

// TestWriteTagPageIsTheWholeEncoding: a page written row by row decodes to the same page as
// the whole encoding, for no tags, one, and many with every field set.
func TestWriteTagPageIsTheWholeEncoding(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, n := range []int{0, 1, 1200} {
		page := api.TagPage{Repository: "team/app", Total: n, Limit: n, PullHost: "registry.example:5000", Tags: []api.Tag{}}
		for i := range n {
			page.Tags = append(page.Tags, api.Tag{Name: fmt.Sprintf("v%d", i), Digest: fmt.Sprintf("sha256:%064x", i), Kind: "index",
				Size: int64(i), Created: at, Pushed: at, Attestations: 1, Error: "<a & b>", Referrers: 2,
				Platforms: []api.Platform{{OS: "linux", Architecture: "arm", Variant: "v7", Digest: "sha256:" + fmt.Sprint(i), Size: 3, Created: at}}})
		}
		var got bytes.Buffer
		if err := writeTagPage(&got, page); err != nil {
			t.Fatal(err)
		}
		whole, _ := json.Marshal(page)
		var a, b any
		if err := json.Unmarshal(got.Bytes(), &a); err != nil {
			t.Fatalf("%d tags: streamed answer is not JSON: %v", n, err)
		}
		_ = json.Unmarshal(whole, &b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%d tags: streamed answer differs from the whole encoding", n)
		}
		if n > 0 && bytes.Contains(got.Bytes(), []byte("<a")) {
			t.Fatal("HTML characters not escaped")
		}
	}
}
