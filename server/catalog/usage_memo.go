package catalog

import (
	"crypto/sha256"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-registry/berth/app/api"
)

// usageMemo keeps each caller's last storage usage of a repository with the tag → digest
// mapping it was computed from. Manifests never change, so the same mapping gives the same
// answer: a visit to a 10,000-tag repository whose tags did not move does not walk 10,000
// manifests again.
type usageMemo struct {
	mu sync.Mutex
	m  map[string]usageMemoEntry // by principal and repository
}

type usageMemoEntry struct {
	mapping [sha256.Size]byte
	usage   api.Usage
}

// maxUsageMemo bounds the memo; past it, it starts again.
const maxUsageMemo = 1000

// mappingSum fingerprints where the tags point, in the tags' order.
func mappingSum(digests []v1.Hash) [sha256.Size]byte {
	h := sha256.New()
	for _, d := range digests {
		h.Write([]byte(d.String()))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func (m *usageMemo) get(key string, mapping [sha256.Size]byte) (api.Usage, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[key]
	return e.usage, ok && e.mapping == mapping
}

func (m *usageMemo) put(key string, mapping [sha256.Size]byte, u api.Usage) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil || len(m.m) >= maxUsageMemo {
		m.m = map[string]usageMemoEntry{}
	}
	m.m[key] = usageMemoEntry{mapping: mapping, usage: u}
}
