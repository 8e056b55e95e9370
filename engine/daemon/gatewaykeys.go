package daemon

import (
	"context"
	"net/http"

	"golang.org/x/crypto/ssh"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/engine/api"
)

// HostKeys are container name's SSH host keys with their private halves,
// for the gateway in this process. They never go over the API socket.
func (d *Daemon) HostKeys(ctx context.Context, name string) ([]ssh.Signer, error) {
	return d.engine.HostKeys(ctx, name)
}

// SetGatewayKey sets the gateway's client public key (an authorized_keys
// line) that new containers grant root and grants write at every boot.
// Call it before Serve.
func (d *Daemon) SetGatewayKey(pub string) { d.engine.GatewayKey = pub }

func (d *Daemon) gatewayKeyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/containers/{name}/gateway-logins", func(w http.ResponseWriter, r *http.Request) {
		ls, err := d.engine.GatewayLogins(r.Context(), r.PathValue("name"))
		reply(w, r, api.GatewayLogins{Logins: nonNil(ls)}, err)
	})
	change := func(w http.ResponseWriter, r *http.Request, f func(context.Context, string, []string) (engine.GatewayGrant, error)) {
		var req api.GatewayLoginsRequest
		if !decode(w, r, &req) {
			return
		}
		g, err := f(r.Context(), r.PathValue("name"), req.Logins)
		reply(w, r, api.GatewayLogins{Logins: nonNil(g.Logins), Applied: g.Applied, Note: g.Note}, err)
	}
	mux.HandleFunc("POST /v1/containers/{name}/gateway-logins/grant", func(w http.ResponseWriter, r *http.Request) {
		change(w, r, d.engine.GrantGateway)
	})
	mux.HandleFunc("POST /v1/containers/{name}/gateway-logins/revoke", func(w http.ResponseWriter, r *http.Request) {
		change(w, r, d.engine.RevokeGateway)
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
