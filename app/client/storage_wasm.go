//go:build js && wasm

package client

import "syscall/js"

// browserStorage is the browser's localStorage.
type browserStorage struct{}

// Set keeps value under key; a full or disabled storage only means less data offline.
func (browserStorage) Set(key, value string) {
	defer func() { _ = recover() }() // setItem throws QuotaExceededError when full
	if ls := js.Global().Get("localStorage"); ls.Truthy() {
		ls.Call("setItem", key, value)
	}
}

// Get reads key.
func (browserStorage) Get(key string) (value string, ok bool) {
	defer func() {
		if recover() != nil {
			value, ok = "", false
		}
	}()
	ls := js.Global().Get("localStorage")
	if !ls.Truthy() {
		return "", false
	}
	v := ls.Call("getItem", key)
	if v.IsNull() || v.IsUndefined() {
		return "", false
	}
	return v.String(), true
}

// Delete removes every key with the given prefix.
func (browserStorage) Delete(prefix string) {
	defer func() { _ = recover() }()
	ls := js.Global().Get("localStorage")
	if !ls.Truthy() {
		return
	}
	var keys []string
	for i := range ls.Get("length").Int() {
		if k := ls.Call("key", i); k.Type() == js.TypeString && len(k.String()) >= len(prefix) && k.String()[:len(prefix)] == prefix {
			keys = append(keys, k.String())
		}
	}
	for _, k := range keys {
		ls.Call("removeItem", k)
	}
}

var storage keyValues = browserStorage{}
