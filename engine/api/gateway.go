package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// GatewayStatus is the SSH gateway's part of Status (nil: not configured).
type GatewayStatus struct {
	Listen string `json:"listen"`
	// Fingerprint is the gateway's host key's (SHA256:...), for users'
	// known_hosts.
	Fingerprint string `json:"fingerprint"`
	// ClientKey is the public key the gateway logs in to containers' sshd with.
	ClientKey  string    `json:"client_key"`
	AccessFile string    `json:"access_file"`
	Users      int       `json:"users"`
	Rules      int       `json:"rules"`
	LoadedAt   time.Time `json:"loaded_at,omitzero"`
	// ConfigError is the last reload's: the rules of LoadedAt stay in force.
	ConfigError string `json:"config_error,omitempty"`
}

// GatewayCheck asks whether a gateway user may reach a container.
type GatewayCheck struct {
	User, Container, Login, Channel string
	Port                            int
}

// GatewayDecision is the answer: which rule allows it, or why each does not.
type GatewayDecision struct {
	Allowed   bool          `json:"allowed"`
	Container string        `json:"container,omitempty"`
	Rule      string        `json:"rule,omitempty"`
	Line      int           `json:"line,omitempty"`
	Login     string        `json:"login,omitempty"`
	Path      string        `json:"path,omitempty"`
	Agent     bool          `json:"agent,omitempty"`
	Reason    string        `json:"reason"`
	Misses    []GatewayMiss `json:"misses,omitempty"`
}

// GatewayMiss is why one rule did not allow a request.
type GatewayMiss struct {
	Rule   string `json:"rule"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// GatewayCheck explains the gateway's decision for q.
func (c *Client) GatewayCheck(ctx context.Context, q GatewayCheck) (GatewayDecision, error) {
	var out GatewayDecision
	v := url.Values{"user": {q.User}, "container": {q.Container}, "login": {q.Login}, "channel": {q.Channel}}
	if q.Port != 0 {
		v.Set("port", strconv.Itoa(q.Port))
	}
	err := c.Do(ctx, http.MethodGet, "/v1/gateway/check?"+v.Encode(), nil, &out)
	return out, err
}
