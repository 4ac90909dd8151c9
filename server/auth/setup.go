package auth

import (
	"context"
	"crypto/subtle"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
)

// Setup creates the first administrator through a one-time link (/setup?token=…) printed
// when Berth starts with access control and no administrator. The token lives in this
// process only; a restart prints a new one until an administrator exists.
type Setup struct {
	acc *Accounts

	mu    sync.Mutex
	token string // "" once used
}

// NewSetup returns the setup page and its one-time token.
func NewSetup(acc *Accounts) (*Setup, string, error) {
	tok, err := newSecret("")
	if err != nil {
		return nil, "", err
	}
	return &Setup{acc: acc, token: tok}, tok, nil
}

var setupPage = template.Must(template.New("setup").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Set up Berth</title></head>
<body><main>
<h1>Set up Berth</h1>
{{if .Done}}<p>The administrator {{.User}} exists. <a href="/">Open Berth</a> and sign in.</p>
{{else if .Gone}}<p>This setup link was used already or is not valid. Restart Berth for a new one, or create an administrator with <code>berth user add --admin</code>.</p>
{{else}}<p>Create the first administrator.</p>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/setup">
<input type="hidden" name="token" value="{{.Token}}">
<p><label>User name <input name="username" autocomplete="username" required pattern="[a-z0-9]+([._\-][a-z0-9]+)*"></label></p>
<p><label>Password <input name="password" type="password" autocomplete="new-password" required minlength="8"></label></p>
<p><button type="submit">Create administrator</button></p>
</form>{{end}}
</main></body></html>`))

type setupView struct {
	Token, User, Error string
	Done, Gone         bool
}

// valid reports whether tok is the unused setup token.
func (s *Setup) valid(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1
}

// ServeHTTP answers GET /setup?token=… with the form and POST /setup with the result.
func (s *Setup) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.Method == http.MethodGet {
		tok := r.URL.Query().Get("token")
		_ = setupPage.Execute(w, setupView{Token: tok, Gone: !s.valid(tok)})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	tok, user, pw := r.PostForm.Get("token"), r.PostForm.Get("username"), r.PostForm.Get("password")
	if !s.valid(tok) {
		w.WriteHeader(http.StatusForbidden)
		_ = setupPage.Execute(w, setupView{Gone: true})
		return
	}
	ctx := r.Context()
	if err := s.acc.CreateUser(ctx, "setup", user, pw, true); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = setupPage.Execute(w, setupView{Token: tok, Error: publicMessage(err)})
		return
	}
	s.mu.Lock()
	s.token = ""
	s.mu.Unlock()
	slog.InfoContext(ctx, "first administrator created through the setup link", "user", user)
	_ = setupPage.Execute(w, setupView{Done: true, User: user})
}

// Bootstrap makes sure an administrator can exist: with adminPassword set and no
// administrator yet, user is created as one; otherwise, with none, it returns a setup
// token for the one-time link (empty when an administrator exists).
func Bootstrap(ctx context.Context, acc *Accounts, user, adminPassword string) (*Setup, string, error) {
	has, err := acc.HasAdmin(ctx)
	if err != nil || has {
		return nil, "", err
	}
	if adminPassword != "" {
		if _, exists, err := acc.st.User(ctx, user); err != nil {
			return nil, "", err
		} else if exists {
			t := true
			return nil, "", acc.UpdateUser(ctx, "bootstrap", user, UserChange{Password: &adminPassword, Admin: &t})
		}
		return nil, "", acc.CreateUser(ctx, "bootstrap", user, adminPassword, true)
	}
	return NewSetup(acc)
}
