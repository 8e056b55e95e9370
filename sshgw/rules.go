package sshgw

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/fatbox/fatbox/engine/api"
)

// Request is what a user asks for: a container (its inventory record) as
// a login over a channel (and, for forward, a port).
type Request struct {
	User      string
	Container api.Container
	// Login "" asks for the first login the allowing rule lists.
	Login   string
	Channel string
	Port    int
}

// Decision is the outcome of Decide: allowed by Rule, or denied with the
// reason each rule did not allow it.
type Decision struct {
	Allowed   bool   `json:"allowed"`
	Container string `json:"container,omitempty"`
	Rule      string `json:"rule,omitempty"`
	Line      int    `json:"line,omitempty"`
	Login     string `json:"login,omitempty"`
	Path      string `json:"path,omitempty"`
	Agent     bool   `json:"agent,omitempty"`
	// Reason is one line: why it is allowed, or why not.
	Reason string `json:"reason"`
	// Misses says, per rule that did not allow it, why not.
	Misses []Miss `json:"misses,omitempty"`
}

// Miss is why one rule did not allow a request.
type Miss struct {
	Rule   string `json:"rule"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Decide evaluates the rules in file order: the first that allows the
// request decides; none allowing it is a denial (default deny).
func (a *Access) Decide(q Request) Decision {
	u, ok := a.Users[q.User]
	if !ok {
		return Decision{Reason: fmt.Sprintf("user %q is not in the access file", q.User)}
	}
	d := Decision{Container: q.Container.Name}
	for _, r := range a.Rules {
		why := r.miss(u, q)
		if why == "" {
			login := q.Login
			if login == "" {
				login = r.Logins[0]
			}
			return Decision{Allowed: true, Container: q.Container.Name, Rule: r.Name, Line: r.Line, Login: login, Path: r.Path, Agent: r.Agent,
				Reason: fmt.Sprintf("rule %q (line %d) allows %s to reach %q as %s over %s", r.Name, r.Line, q.User, q.Container.Name, login, q.Channel)}
		}
		d.Misses = append(d.Misses, Miss{Rule: r.Name, Line: r.Line, Reason: why})
	}
	d.Reason = fmt.Sprintf("no rule allows %s to reach %q as %s over %s (default deny)", q.User, q.Container.Name, orAny(q.Login), q.Channel)
	return d
}

func orAny(login string) string {
	if login == "" {
		return "any login"
	}
	return login
}

// miss says why r does not allow q, "" if it does.
func (r Rule) miss(u *User, q Request) string {
	if !slices.Contains(r.Users, u.Name) && !slices.ContainsFunc(r.Groups, func(g string) bool { return slices.Contains(u.Groups, g) }) {
		return fmt.Sprintf("not for user %s or its groups [%s]", u.Name, strings.Join(u.Groups, " "))
	}
	if why := r.Match.miss(q.Container); why != "" {
		return why
	}
	if q.Login != "" && !slices.Contains(r.Logins, q.Login) {
		return fmt.Sprintf("login %s is not among its logins [%s]", q.Login, strings.Join(r.Logins, " "))
	}
	if !slices.Contains(r.Channels, q.Channel) {
		return fmt.Sprintf("channel %s is not among its channels [%s]", q.Channel, strings.Join(r.Channels, " "))
	}
	if q.Channel == ChannelForward && !slices.Contains(r.Ports, q.Port) {
		return fmt.Sprintf("port %d is not among its ports %v", q.Port, r.Ports)
	}
	return ""
}

// miss says why m does not select c, "" if it does.
func (m Match) miss(c api.Container) string {
	for _, f := range []struct{ what, glob, v string }{{"name", m.Name, c.Name}, {"owner", m.Owner, c.Owner}, {"app", m.App, c.App}, {"env", m.Env, c.Env}} {
		if f.glob == "" {
			continue
		}
		if ok, _ := path.Match(f.glob, f.v); !ok {
			return fmt.Sprintf("container %s %q does not match %q", f.what, f.v, f.glob)
		}
	}
	for k, glob := range m.Labels {
		v, has := c.Labels[k]
		if ok, _ := path.Match(glob, v); !has || !ok {
			return fmt.Sprintf("container label %s=%q does not match %q", k, v, glob)
		}
	}
	return ""
}

// Reachable lists the containers of cs the user may open a shell in, each
// with the login the first allowing rule gives.
func (a *Access) Reachable(user string, cs []api.Container) []Decision {
	var out []Decision
	for _, c := range cs {
		if d := a.Decide(Request{User: user, Container: c, Channel: ChannelShell}); d.Allowed {
			out = append(out, d)
		}
	}
	return out
}
