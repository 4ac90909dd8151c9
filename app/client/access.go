package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-registry/berth/app/api"
)

// Accounts is access control's part of /api/v1 (users, teams, namespaces, robots, personal
// access tokens, the audit log). Only Berth has it: a direct export talks to a registry.
// Nothing of it is kept for offline use (storable).
type Accounts interface {
	// Access says what the caller may do to a repository.
	Access(ctx context.Context, repository string) (api.RepositoryAccess, error)

	Users(ctx context.Context) ([]api.User, error)
	CreateUser(ctx context.Context, req api.UserRequest) (api.User, error)
	UpdateUser(ctx context.Context, name string, req api.UserRequest) (api.User, error)

	Teams(ctx context.Context) ([]api.Team, error)
	Team(ctx context.Context, name string) (api.Team, error)
	CreateTeam(ctx context.Context, t api.Team) (api.Team, error)
	DeleteTeam(ctx context.Context, name string) error
	// SetTeamMember gives user a role in the team; role "" removes them.
	SetTeamMember(ctx context.Context, team, user, role string) (api.Team, error)

	Namespaces(ctx context.Context) ([]api.Namespace, error)
	Namespace(ctx context.Context, name string) (api.Namespace, error)
	CreateNamespace(ctx context.Context, req api.NamespaceRequest) (api.Namespace, error)
	UpdateNamespace(ctx context.Context, name string, req api.NamespaceRequest) (api.Namespace, error)
	// SetNamespaceMember gives user a role in the namespace; role "" removes them.
	SetNamespaceMember(ctx context.Context, namespace, user, role string) (api.Namespace, error)

	Robots(ctx context.Context, namespace string) ([]api.Robot, error)
	CreateRobot(ctx context.Context, namespace string, req api.RobotRequest) (api.RobotCreated, error)
	RevokeRobot(ctx context.Context, namespace, account string) error

	Tokens(ctx context.Context) ([]api.AccessToken, error)
	CreateToken(ctx context.Context, req api.TokenRequest) (api.TokenCreated, error)
	RevokeToken(ctx context.Context, id string) error

	// Audit returns a page of the audit log, newest first (administrators).
	Audit(ctx context.Context, q api.AuditQuery) (api.AuditPage, error)
}

var _ Accounts = (*Berth)(nil)

func (c *Berth) Access(ctx context.Context, repository string) (api.RepositoryAccess, error) {
	var a api.RepositoryAccess
	err := c.do(ctx, http.MethodGet, "/api/v1/access?repository="+url.QueryEscape(repository), nil, &a)
	return a, err
}

func (c *Berth) Users(ctx context.Context) ([]api.User, error) {
	var l struct {
		Users []api.User `json:"users"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/users", nil, &l)
	return l.Users, err
}

func (c *Berth) CreateUser(ctx context.Context, req api.UserRequest) (api.User, error) {
	var u api.User
	err := c.do(ctx, http.MethodPost, "/api/v1/users", req, &u)
	return u, err
}

func (c *Berth) UpdateUser(ctx context.Context, name string, req api.UserRequest) (api.User, error) {
	var u api.User
	err := c.do(ctx, http.MethodPatch, "/api/v1/users/"+url.PathEscape(name), req, &u)
	return u, err
}

func (c *Berth) Teams(ctx context.Context) ([]api.Team, error) {
	var l struct {
		Teams []api.Team `json:"teams"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/teams", nil, &l)
	return l.Teams, err
}

func (c *Berth) Team(ctx context.Context, name string) (api.Team, error) {
	var t api.Team
	err := c.do(ctx, http.MethodGet, "/api/v1/teams/"+url.PathEscape(name), nil, &t)
	return t, err
}

func (c *Berth) CreateTeam(ctx context.Context, t api.Team) (api.Team, error) {
	var out api.Team
	err := c.do(ctx, http.MethodPost, "/api/v1/teams", t, &out)
	return out, err
}

func (c *Berth) DeleteTeam(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/teams/"+url.PathEscape(name), nil, nil)
}

func (c *Berth) SetTeamMember(ctx context.Context, team, user, role string) (api.Team, error) {
	var t api.Team
	err := c.setMember(ctx, "/api/v1/teams/"+url.PathEscape(team)+"/members/"+url.PathEscape(user), role, &t)
	return t, err
}

// setMember PUTs a role, or DELETEs the membership for role "".
func (c *Berth) setMember(ctx context.Context, path, role string, into any) error {
	if role == "" {
		return c.do(ctx, http.MethodDelete, path, nil, into)
	}
	return c.do(ctx, http.MethodPut, path, api.RoleRequest{Role: role}, into)
}

func (c *Berth) Namespaces(ctx context.Context) ([]api.Namespace, error) {
	var l struct {
		Namespaces []api.Namespace `json:"namespaces"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/namespaces", nil, &l)
	return l.Namespaces, err
}

func (c *Berth) Namespace(ctx context.Context, name string) (api.Namespace, error) {
	var n api.Namespace
	err := c.do(ctx, http.MethodGet, "/api/v1/namespaces/"+url.PathEscape(name), nil, &n)
	return n, err
}

func (c *Berth) CreateNamespace(ctx context.Context, req api.NamespaceRequest) (api.Namespace, error) {
	var n api.Namespace
	err := c.do(ctx, http.MethodPost, "/api/v1/namespaces", req, &n)
	return n, err
}

func (c *Berth) UpdateNamespace(ctx context.Context, name string, req api.NamespaceRequest) (api.Namespace, error) {
	var n api.Namespace
	err := c.do(ctx, http.MethodPatch, "/api/v1/namespaces/"+url.PathEscape(name), req, &n)
	return n, err
}

func (c *Berth) SetNamespaceMember(ctx context.Context, namespace, user, role string) (api.Namespace, error) {
	var n api.Namespace
	err := c.setMember(ctx, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/members/"+url.PathEscape(user), role, &n)
	return n, err
}

func (c *Berth) Robots(ctx context.Context, namespace string) ([]api.Robot, error) {
	var l struct {
		Robots []api.Robot `json:"robots"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/robots", nil, &l)
	return l.Robots, err
}

func (c *Berth) CreateRobot(ctx context.Context, namespace string, req api.RobotRequest) (api.RobotCreated, error) {
	var r api.RobotCreated
	err := c.do(ctx, http.MethodPost, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/robots", req, &r)
	return r, err
}

func (c *Berth) RevokeRobot(ctx context.Context, namespace, account string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/robots/"+url.PathEscape(account), nil, nil)
}

func (c *Berth) Tokens(ctx context.Context) ([]api.AccessToken, error) {
	var l struct {
		Tokens []api.AccessToken `json:"tokens"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/tokens", nil, &l)
	return l.Tokens, err
}

func (c *Berth) CreateToken(ctx context.Context, req api.TokenRequest) (api.TokenCreated, error) {
	var t api.TokenCreated
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens", req, &t)
	return t, err
}

func (c *Berth) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(id), nil, nil)
}

func (c *Berth) Audit(ctx context.Context, q api.AuditQuery) (api.AuditPage, error) {
	v := url.Values{}
	for k, s := range map[string]string{"user": q.User, "action": q.Action, "since": q.Since} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var p api.AuditPage
	err := c.do(ctx, http.MethodGet, "/api/v1/audit?"+v.Encode(), nil, &p)
	return p, err
}
