package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/inventory"
)

func (c *Client) Create(ctx context.Context, req engine.CreateRequest) (inventory.Record, error) {
	var out inventory.Record
	err := c.untimed().Do(ctx, http.MethodPost, "/v1/containers", req, &out)
	return out, err
}

func (c *Client) ListContainers(ctx context.Context) ([]inventory.Record, error) {
	var out []inventory.Record
	err := c.Do(ctx, http.MethodGet, "/v1/containers", nil, &out)
	return out, err
}

func (c *Client) Inspect(ctx context.Context, name string) (engine.Info, error) {
	var out engine.Info
	err := c.Do(ctx, http.MethodGet, "/v1/containers/"+url.PathEscape(name), nil, &out)
	return out, err
}

func (c *Client) Remove(ctx context.Context, name string, releaseIP bool) error {
	q := ""
	if releaseIP {
		q = "?release_ip=1"
	}
	return c.untimed().Do(ctx, http.MethodDelete, "/v1/containers/"+url.PathEscape(name)+q, nil, nil)
}

func (c *Client) Stop(ctx context.Context, name string) error {
	return c.untimed().Do(ctx, http.MethodPost, "/v1/containers/"+url.PathEscape(name)+"/stop", struct{}{}, nil)
}

func (c *Client) Start(ctx context.Context, name string) (inventory.Record, error) {
	var out inventory.Record
	err := c.untimed().Do(ctx, http.MethodPost, "/v1/containers/"+url.PathEscape(name)+"/start", struct{}{}, &out)
	return out, err
}

func (c *Client) Restart(ctx context.Context, name string) (inventory.Record, error) {
	var out inventory.Record
	err := c.untimed().Do(ctx, http.MethodPost, "/v1/containers/"+url.PathEscape(name)+"/restart", struct{}{}, &out)
	return out, err
}

// Rename gives a stopped container a new name; its IP, MAC, disk and host keys go with it.
func (c *Client) Rename(ctx context.Context, name, newName string) (inventory.Record, error) {
	var out inventory.Record
	err := c.Do(ctx, http.MethodPost, "/v1/containers/"+url.PathEscape(name)+"/rename", map[string]string{"name": newName}, &out)
	return out, err
}
