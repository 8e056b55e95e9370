package api

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/fatbox/fatbox/ipam"
)

// AllocateRequest is POST /v1/pools/{pool}/leases.
type AllocateRequest struct {
	Name string     `json:"name"`
	IP   netip.Addr `json:"ip,omitzero"` // set: exactly this address (AllocateExact)
}

// GCRequest is POST /v1/pools/{pool}/gc.
type GCRequest struct {
	// Alive lists owners that exist besides the inventory's containers
	// (which always count as alive), e.g. names given to `fatbox ip allocate`.
	Alive  []string `json:"alive"`
	DryRun bool     `json:"dry_run"`
}

func (c *Client) CreatePool(ctx context.Context, p ipam.Pool) (ipam.Pool, error) {
	var out ipam.Pool
	err := c.Do(ctx, http.MethodPost, "/v1/pools", p, &out)
	return out, err
}

func (c *Client) ListPools(ctx context.Context) ([]ipam.Pool, error) {
	var out []ipam.Pool
	err := c.Do(ctx, http.MethodGet, "/v1/pools", nil, &out)
	return out, err
}

func (c *Client) GetPool(ctx context.Context, name string) (ipam.Pool, error) {
	var out ipam.Pool
	err := c.Do(ctx, http.MethodGet, "/v1/pools/"+url.PathEscape(name), nil, &out)
	return out, err
}

func (c *Client) DeletePool(ctx context.Context, name string, force bool) error {
	q := ""
	if force {
		q = "?force=1"
	}
	return c.Do(ctx, http.MethodDelete, "/v1/pools/"+url.PathEscape(name)+q, nil, nil)
}

func (c *Client) ListLeases(ctx context.Context, pool string) ([]ipam.Lease, error) {
	var out []ipam.Lease
	err := c.Do(ctx, http.MethodGet, "/v1/pools/"+url.PathEscape(pool)+"/leases", nil, &out)
	return out, err
}

func (c *Client) GetLease(ctx context.Context, pool, name string) (ipam.Lease, error) {
	var out ipam.Lease
	err := c.Do(ctx, http.MethodGet, "/v1/pools/"+url.PathEscape(pool)+"/leases/"+url.PathEscape(name), nil, &out)
	return out, err
}

func (c *Client) Owner(ctx context.Context, ip netip.Addr) (ipam.Lease, error) {
	var out ipam.Lease
	err := c.Do(ctx, http.MethodGet, "/v1/ips/"+ip.String(), nil, &out)
	return out, err
}

func (c *Client) Allocate(ctx context.Context, pool string, req AllocateRequest) (ipam.Lease, error) {
	var out ipam.Lease
	err := c.Do(ctx, http.MethodPost, "/v1/pools/"+url.PathEscape(pool)+"/leases", req, &out)
	return out, err
}

func (c *Client) Release(ctx context.Context, pool, name string) (ipam.Lease, error) {
	var out ipam.Lease
	err := c.Do(ctx, http.MethodDelete, "/v1/pools/"+url.PathEscape(pool)+"/leases/"+url.PathEscape(name), nil, &out)
	return out, err
}

func (c *Client) GC(ctx context.Context, pool string, req GCRequest) (ipam.GCResult, error) {
	var out ipam.GCResult
	err := c.Do(ctx, http.MethodPost, "/v1/pools/"+url.PathEscape(pool)+"/gc", req, &out)
	return out, err
}
