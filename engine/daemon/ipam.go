package daemon

import (
	"fmt"
	"net/http"
	"net/netip"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/network"
	"github.com/fatbox/fatbox/ipam"
)

func (d *Daemon) ipamRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/pools", d.handleCreatePool)
	mux.HandleFunc("GET /v1/pools", func(w http.ResponseWriter, r *http.Request) {
		ps, err := d.ipam.ListPools(r.Context())
		reply(w, r, toPools(ps), err)
	})
	mux.HandleFunc("GET /v1/pools/{pool}", func(w http.ResponseWriter, r *http.Request) {
		p, _, err := d.ipam.GetPool(r.Context(), r.PathValue("pool"))
		reply(w, r, toPool(p), err)
	})
	mux.HandleFunc("DELETE /v1/pools/{pool}", d.handleDeletePool)
	mux.HandleFunc("GET /v1/pools/{pool}/leases", func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := d.ipam.GetPool(r.Context(), r.PathValue("pool")); err != nil {
			reply(w, r, nil, err)
			return
		}
		ls, err := d.ipam.List(r.Context(), r.PathValue("pool"))
		reply(w, r, toLeases(ls), err)
	})
	mux.HandleFunc("GET /v1/pools/{pool}/leases/{name}", func(w http.ResponseWriter, r *http.Request) {
		l, err := d.ipam.Get(r.Context(), r.PathValue("pool"), r.PathValue("name"))
		reply(w, r, toLease(l), err)
	})
	mux.HandleFunc("POST /v1/pools/{pool}/leases", func(w http.ResponseWriter, r *http.Request) {
		var req api.AllocateRequest
		if !decode(w, r, &req) {
			return
		}
		var l ipam.Lease
		var err error
		if req.IP.IsValid() {
			l, err = d.ipam.AllocateExact(r.Context(), r.PathValue("pool"), req.Name, req.IP)
		} else {
			l, err = d.ipam.Allocate(r.Context(), r.PathValue("pool"), req.Name)
		}
		reply(w, r, toLease(l), err)
	})
	mux.HandleFunc("DELETE /v1/pools/{pool}/leases/{name}", func(w http.ResponseWriter, r *http.Request) {
		l, err := d.ipam.Release(r.Context(), r.PathValue("pool"), r.PathValue("name"))
		reply(w, r, toLease(l), err)
	})
	mux.HandleFunc("POST /v1/pools/{pool}/gc", func(w http.ResponseWriter, r *http.Request) {
		var req api.GCRequest
		if !decode(w, r, &req) {
			return
		}
		// Alive: every container in the inventory (any node), plus the
		// owners the caller names. An unreadable inventory fails closed.
		recs, err := d.inv.List(r.Context())
		if err != nil {
			reply(w, r, nil, fmt.Errorf("ip gc: cannot read the inventory, so nothing was freed: %w", err))
			return
		}
		alive := map[string]bool{}
		for _, rec := range recs {
			alive[rec.Name] = true
		}
		for _, n := range req.Alive {
			alive[n] = true
		}
		res, err := d.ipam.GC(r.Context(), r.PathValue("pool"), alive, req.DryRun)
		reply(w, r, toGCResult(res), err)
	})
	mux.HandleFunc("GET /v1/ips/{ip}", func(w http.ResponseWriter, r *http.Request) {
		ip, err := netip.ParseAddr(r.PathValue("ip"))
		if err != nil {
			writeError(w, r, invalid(fmt.Sprintf("bad address %q: give an IPv4 address like 198.18.0.23", r.PathValue("ip"))))
			return
		}
		l, err := d.ipam.Owner(r.Context(), ip)
		reply(w, r, toLease(l), err)
	})
}

func (d *Daemon) handleCreatePool(w http.ResponseWriter, r *http.Request) {
	var req api.Pool
	if !decode(w, r, &req) {
		return
	}
	p, err := d.ipam.CreatePool(r.Context(), fromPool(req))
	reply(w, r, toPool(p), err)
}

// handleDeletePool removes a pool (refused while a container record uses
// it), then the bridge fatbox made for it on this host, if no link is
// left on it. Other hosts keep theirs until their own cleanup.
func (d *Daemon) handleDeletePool(w http.ResponseWriter, r *http.Request) {
	force, ok := flag(w, r, "force")
	if !ok {
		return
	}
	res, err := d.ipam.DeletePoolWithResult(r.Context(), r.PathValue("pool"), force)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := api.PoolRemoved{Pool: toPool(res.Pool), Dropped: toLeases(res.Dropped)}
	if res.Pool.CreateBridge {
		// DeleteBridge is a no-op for a missing bridge and refuses one
		// with ports; a failed lookup is reported, never taken as "gone".
		_, exists, err := network.LinkKind(res.Pool.Bridge)
		if err == nil && exists {
			if err = network.DeleteBridge(res.Pool.Bridge); err == nil {
				out.BridgeRemoved = true
			}
		}
		if err != nil {
			out.BridgeNote = fmt.Sprintf("bridge %q was kept: %v: remove it with `ip link del %s` once no container uses it", res.Pool.Bridge, err, res.Pool.Bridge)
			d.log.Warn("pool removed, its bridge kept", "pool", res.Pool.Name, "bridge", res.Pool.Bridge, "error", err)
		}
	}
	WriteJSON(w, http.StatusOK, out)
}
