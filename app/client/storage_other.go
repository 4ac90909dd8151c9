//go:build !(js && wasm)

package client

// storageSet does nothing outside the browser: only the UI keeps data for offline use.
func storageSet(key, value string) {}

// storageGet finds nothing outside the browser.
func storageGet(key string) (string, bool) { return "", false }
