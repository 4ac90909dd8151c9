package ui

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/client"
)

// The static site's sign-in (berth export, served from another origin than Berth): the
// OAuth 2.0 authorization code grant with PKCE. The UI makes a verifier and its S256
// challenge with WebCrypto, sends the browser to Berth's /auth/authorize (which signs the
// user in on Berth's own pages if needed), and on /auth/callback trades the code for tokens
// that stay in memory (app/client/oauth.go). Only the verifier and state cross the redirect,
// in this tab's sessionStorage, and are removed on the way back.

const (
	// oauthPending is the sessionStorage key of the sign-in under way.
	oauthPending = "berth.oauth.pending"
	// oauthActive says this tab signed in (no secret): after a reload, the UI signs in
	// again, which Berth's own session makes a pair of redirects.
	oauthActive = "berth.oauth.active"
)

// pendingSignIn is what the callback needs of the request it answers.
type pendingSignIn struct {
	State    string `json:"state"`
	Verifier string `json:"verifier"`
	Return   string `json:"return"`
}

// staticSite reports whether the UI runs as a static site against a Berth elsewhere.
func staticSite() bool {
	return app.Getenv(EnvAPIURL) != "" && app.Getenv(EnvMode) != ModeDirect
}

// callbackURL is the redirect_uri: this site's /auth/callback.
func callbackURL() string {
	u := app.Window().URL()
	return u.Scheme + "://" + u.Host + Path("/auth/callback")
}

func sessionStorage() app.Value { return app.Window().Get("sessionStorage") }

// randomString is n random bytes from WebCrypto, base64url-encoded.
func randomString(n int) string {
	buf := app.Window().Get("Uint8Array").New(n)
	app.Window().Get("crypto").Call("getRandomValues", buf)
	b := make([]byte, n)
	app.CopyBytesToGo(b, buf)
	return base64.RawURLEncoding.EncodeToString(b)
}

// startStaticSignIn sends the browser to Berth's authorization endpoint; failed says why it
// cannot (WebCrypto needs a secure context: https or localhost).
func startStaticSignIn(ret string, failed func(msg string)) {
	crypto := app.Window().Get("crypto")
	if !crypto.Truthy() || !crypto.Get("subtle").Truthy() {
		failed("Signing in needs a secure page (https): this browser offers no WebCrypto here.")
		return
	}
	p := pendingSignIn{State: randomString(16), Verifier: randomString(32), Return: ret}
	data := app.Window().Get("TextEncoder").New().Call("encode", p.Verifier)
	crypto.Get("subtle").Call("digest", "SHA-256", data).Then(func(digest app.Value) {
		sum := make([]byte, 32)
		app.CopyBytesToGo(sum, app.Window().Get("Uint8Array").New(digest))
		b, _ := json.Marshal(p)
		sessionStorage().Call("setItem", oauthPending, string(b))
		q := url.Values{
			"client_id": {client.OAuthClient}, "response_type": {"code"}, "redirect_uri": {callbackURL()},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum)}, "code_challenge_method": {"S256"},
			"state": {p.State},
		}
		app.Window().Get("location").Call("assign", strings.TrimRight(app.Getenv(EnvAPIURL), "/")+"/auth/authorize?"+q.Encode())
	})
}

// callbackPage is /auth/callback: Berth sends the browser back here with a code (or an
// error); the code and the verifier become tokens, and the user goes on where they were.
type callbackPage struct {
	app.Compo
	err string
}

func (p *callbackPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	ctx.Page().SetTitle("Signing in · Berth")
	q := ctx.Page().URL().Query()
	var pending pendingSignIn
	if v := sessionStorage().Call("getItem", oauthPending); v.Truthy() {
		_ = json.Unmarshal([]byte(v.String()), &pending)
	}
	sessionStorage().Call("removeItem", oauthPending) // one use
	switch {
	case q.Get("error") != "":
		p.fail("Berth refused the sign-in: " + strings.TrimSpace(q.Get("error")+" "+q.Get("error_description")))
		return
	case pending.State == "" || q.Get("state") != pending.State || q.Get("code") == "":
		p.fail("This sign-in answer does not belong to a sign-in started in this tab. Start again.")
		return
	}
	code, ret := q.Get("code"), pending.Return
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := client.ExchangeCode(c, app.Getenv(EnvAPIURL), code, callbackURL(), pending.Verifier)
		ctx.Dispatch(func(ctx app.Context) {
			if err != nil {
				p.fail(err.Error())
				return
			}
			sessionStorage().Call("setItem", oauthActive, "1")
			if !strings.HasPrefix(ret, Path("/")) || strings.HasPrefix(ret, "//") || strings.HasPrefix(ret, Path("/auth/")) {
				ret = Path("/")
			}
			ctx.Navigate(ret)
		})
	})
}

// fail shows why the sign-in did not work and stops signing in again after reloads.
func (p *callbackPage) fail(msg string) {
	p.err = msg
	sessionStorage().Call("removeItem", oauthActive)
}

func (p *callbackPage) Render() app.UI {
	if p.err != "" {
		return page([]crumb{{label: "Sign in"}},
			app.Div().Class("page-head").Body(app.H1().Text("Sign-in failed")),
			errorView(p.err, func(ctx app.Context, e app.Event) {
				startStaticSignIn(Path("/"), func(msg string) { p.err = msg })
			}),
		)
	}
	return page([]crumb{{label: "Sign in"}}, loadingView("your sign-in"))
}
