//go:build !(js && wasm)

package client

// noStorage keeps nothing: outside the browser (the server prerendering pages) only the UI
// keeps data for offline use. Tests put a map in its place.
type noStorage struct{}

func (noStorage) Set(key, value string)         {}
func (noStorage) Get(key string) (string, bool) { return "", false }
func (noStorage) Delete(prefix string)          {}

var storage keyValues = noStorage{}
