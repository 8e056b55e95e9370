package api

import (
	"context"
	"net/http"
	"net/netip"
)

// AllocateRequest is POST /v1/pools/{pool}/leases.
type AllocateRequest struct {
	Name string     `json:"name"`
	IP   netip.Addr `json:"ip,omitzero"` // set: exactly this address
}

// GCRequest is POST /v1/pools/{pool}/gc.
type GCRequest struct {
	// Alive lists owners that exist besides the inventory's containers
	// (which always count as alive), e.g. names given to `fatbox ip allocate`.
	Alive  []string `json:"alive"`
	DryRun bool     `json:"dry_run"`
}

func (c *Client) CreatePool(ctx context.Context, p Pool) (Pool, error) {
	var out Pool
	err := c.Do(ctx, http.MethodPost, "/v1/pools", p, &out)
	return out, err
}

func (c *Client) ListPools(ctx context.Context) ([]Pool, error) {
	var out []Pool
	err := c.Do(ctx, http.MethodGet, "/v1/pools", nil, &out)
	return out, err
}

func (c *Client) GetPool(ctx context.Context, name string) (Pool, error) {
	var out Pool
	p, err := path("pool", "/v1/pools/%s", name)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// DeletePool removes a pool; force also drops leases of owners that are
// not containers and quarantined ones (a pool a container uses is never removed).
func (c *Client) DeletePool(ctx context.Context, name string, force bool) (PoolRemoved, error) {
	var out PoolRemoved
	p, err := path("pool", "/v1/pools/%s", name)
	if err != nil {
		return out, err
	}
	if force {
		p += "?force=1"
	}
	err = c.Do(ctx, http.MethodDelete, p, nil, &out)
	return out, err
}

func (c *Client) ListLeases(ctx context.Context, pool string) ([]Lease, error) {
	var out []Lease
	p, err := path("pool", "/v1/pools/%s/leases", pool)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

func (c *Client) GetLease(ctx context.Context, pool, name string) (Lease, error) {
	var out Lease
	p, err := path("pool or lease", "/v1/pools/%s/leases/%s", pool, name)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

func (c *Client) Owner(ctx context.Context, ip netip.Addr) (Lease, error) {
	var out Lease
	err := c.Do(ctx, http.MethodGet, "/v1/ips/"+ip.String(), nil, &out)
	return out, err
}

func (c *Client) Allocate(ctx context.Context, pool string, req AllocateRequest) (Lease, error) {
	var out Lease
	p, err := path("pool", "/v1/pools/%s/leases", pool)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodPost, p, req, &out)
	return out, err
}

func (c *Client) Release(ctx context.Context, pool, name string) (Lease, error) {
	var out Lease
	p, err := path("pool or lease", "/v1/pools/%s/leases/%s", pool, name)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodDelete, p, nil, &out)
	return out, err
}

func (c *Client) GC(ctx context.Context, pool string, req GCRequest) (GCResult, error) {
	var out GCResult
	p, err := path("pool", "/v1/pools/%s/gc", pool)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodPost, p, req, &out)
	return out, err
}
