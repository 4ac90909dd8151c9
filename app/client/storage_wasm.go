//go:build js && wasm

package client

import "syscall/js"

// storageSet keeps value under key in localStorage; a full or disabled storage only means
// less data offline.
func storageSet(key, value string) {
	defer func() { _ = recover() }() // setItem throws QuotaExceededError when full
	ls := js.Global().Get("localStorage")
	if !ls.Truthy() {
		return
	}
	ls.Call("setItem", key, value)
}

// storageGet reads key from localStorage.
func storageGet(key string) (value string, ok bool) {
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
