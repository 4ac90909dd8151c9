package ui

import (
	"net/url"
	"testing"
)

func TestReturnPath(t *testing.T) {
	for in, want := range map[string]string{
		"/repositories/web/app":               "/repositories/web/app",
		"/auth/authorize?client_id=x&state=y": "/auth/authorize?client_id=x&state=y",
		"":                                    "/",
		"https://evil.example/":               "/",
		"//evil.example/":                     "/",
		"/\\evil.example":                     "/",
		"/ok\r\nSet-Cookie: x":                "/",
		"repositories":                        "/",
	} {
		u := &url.URL{Path: "/signin", RawQuery: url.Values{"return": {in}}.Encode()}
		if got := returnPath(u); got != want {
			t.Errorf("returnPath(%q) = %q, want %q", in, got, want)
		}
	}
}
