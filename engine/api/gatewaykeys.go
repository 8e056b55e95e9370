package api

import (
	"context"
	"net/http"
)

// GatewayLogins are the logins a container grants the SSH gateway's key
// (GET, and the answer of grant and revoke).
type GatewayLogins struct {
	Logins []string `json:"logins"`
	// Applied: the container runs and got the change now (else at its
	// next start).
	Applied bool `json:"applied,omitempty"`
	// Note tells what is left to do, e.g. reload sshd by hand.
	Note string `json:"note,omitempty"`
}

// GatewayLoginsRequest names logins to grant or revoke (revoke: none means all).
type GatewayLoginsRequest struct {
	Logins []string `json:"logins"`
}

// GatewayLogins lists what container name grants the gateway.
func (c *Client) GatewayLogins(ctx context.Context, name string) (GatewayLogins, error) {
	var out GatewayLogins
	p, err := path("container", "/v1/containers/%s/gateway-logins", name)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// GrantGateway authorizes the gateway's key for logins in container name.
func (c *Client) GrantGateway(ctx context.Context, name string, logins []string) (GatewayLogins, error) {
	return c.gatewayLogins(ctx, name, "grant", logins)
}

// RevokeGateway takes logins back (none: all).
func (c *Client) RevokeGateway(ctx context.Context, name string, logins []string) (GatewayLogins, error) {
	return c.gatewayLogins(ctx, name, "revoke", logins)
}

func (c *Client) gatewayLogins(ctx context.Context, name, action string, logins []string) (GatewayLogins, error) {
	var out GatewayLogins
	p, err := path("container", "/v1/containers/%s/gateway-logins/"+action, name)
	if err != nil {
		return out, err
	}
	err = c.untimed().Do(ctx, http.MethodPost, p, GatewayLoginsRequest{Logins: logins}, &out)
	return out, err
}
