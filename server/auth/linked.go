package auth

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/berth-registry/berth/server/store"
)

// createLinkedUser makes an account without a password (it signs in only through an outside
// source), its personal namespace and link, the row tying it to the source's account
// (link.User, ID and Created are filled in here); store.ErrExists when the name is taken by
// a user, team, namespace or repositories. actor and detail go to the audit log.
func (a *Accounts) createLinkedUser(ctx context.Context, name string, link store.Token, actor, detail string) error {
	if _, taken, err := a.st.Namespace(ctx, name); err != nil {
		return err
	} else if taken {
		return store.ErrExists
	}
	if held, err := a.occupied(ctx, name); err != nil {
		return err
	} else if held {
		return store.ErrExists // its repositories are not a newcomer's
	}
	if err := a.st.CreateUser(ctx, store.User{Name: name, Created: a.now()}); err != nil {
		return err
	}
	if err := a.st.CreateNamespace(ctx, store.Namespace{Name: name, Kind: store.NamespaceUser, Owner: name, Created: a.now()}); err != nil {
		return err
	}
	id, err := newID()
	if err != nil {
		return err
	}
	link.ID, link.User, link.Created = id, name, a.now()
	if err := a.st.CreateToken(ctx, link); err != nil {
		return err
	}
	a.Audit(ctx, store.AuditEntry{Actor: actor, Action: AuditUserCreate, Target: name, Detail: detail, OK: true})
	return nil
}

// groupSource is where group memberships come from (an OpenID Connect provider, an LDAP
// directory): the actor its audit entries name, the kind of token row that records the
// memberships it gave, and its map from groups to teams.
type groupSource struct {
	actor, kind string
	teams       map[string]TeamRole
}

// syncGroupTeams makes user's memberships given by src what groups give now: teams mapped
// by src.teams, or existing teams named like a group (as developer). Memberships given
// otherwise (by an owner or administrator) are left alone, and win over a group's. It
// reports whether any membership changed.
func (a *Accounts) syncGroupTeams(ctx context.Context, src groupSource, user string, groups []string) (bool, error) {
	want, err := a.wantedTeams(ctx, src, groups)
	if err != nil {
		return false, err
	}
	rows, err := a.st.Tokens(ctx, user, src.kind)
	if err != nil {
		return false, err
	}
	managed := map[string]store.Token{} // team → its live row
	for _, t := range rows {
		if t.Revoked.IsZero() {
			team, _, _ := strings.Cut(t.Name, " ")
			managed[team] = t
		}
	}
	ms, err := a.st.Memberships(ctx, user)
	if err != nil {
		return false, err
	}
	have := map[string]string{}
	for _, m := range ms {
		have[m.Group] = m.Role
	}
	changed := false
	set := func(team, role string, detail string) error {
		if err := a.st.SetTeamMember(ctx, team, user, role); err != nil {
			return err
		}
		changed = true
		a.Audit(ctx, store.AuditEntry{Actor: src.actor, Action: AuditTeamMember, Target: team + "/" + user, Detail: "role=" + role + " (" + detail + ")", OK: true})
		return nil
	}
	for team, role := range want {
		row, ours := managed[team]
		_, given := have[team]
		switch {
		case !ours && given:
			continue // given by someone: theirs to change
		case ours && row.Name == team+" "+role && have[team] == role:
			continue
		}
		if err := set(team, role, src.actor+" group"); err != nil {
			return changed, err
		}
		if ours {
			if err := a.st.RevokeToken(ctx, row.ID, a.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
				return changed, err
			}
		}
		id, err := newID()
		if err != nil {
			return changed, err
		}
		if err := a.st.CreateToken(ctx, store.Token{ID: id, Kind: src.kind, User: user, Name: team + " " + role, Hash: secretHash("berth " + src.actor + " team\x00" + id), Created: a.now()}); err != nil {
			return changed, err
		}
	}
	for team, row := range managed {
		if _, still := want[team]; still {
			continue
		}
		_, role, _ := strings.Cut(row.Name, " ")
		if have[team] == role {
			if err := set(team, "", "no longer in the "+src.actor+" group"); err != nil && !errors.Is(err, store.ErrNotFound) {
				return changed, err
			}
		}
		if err := a.st.RevokeToken(ctx, row.ID, a.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
			return changed, err
		}
	}
	return changed, nil
}

// wantedTeams is the team → role that groups give through src (the strongest role when
// several groups name one team); teams are never made from groups.
func (a *Accounts) wantedTeams(ctx context.Context, src groupSource, groups []string) (map[string]string, error) {
	want := map[string]string{}
	for _, g := range groups {
		tr, mapped := src.teams[g]
		if !mapped {
			if !ValidName(g) {
				continue
			}
			tr = TeamRole{Team: g, Role: store.RoleDeveloper}
		}
		if _, ok, err := a.st.Team(ctx, tr.Team); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		if roleRank(tr.Role) > roleRank(want[tr.Team]) {
			want[tr.Team] = tr.Role
		}
	}
	return want, nil
}

// roleRank orders roles from none (0) to owner.
func roleRank(role string) int {
	return slices.Index([]string{"", store.RoleViewer, store.RoleDeveloper, store.RoleMaintainer, store.RoleOwner}, role)
}
