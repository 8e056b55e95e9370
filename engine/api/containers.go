package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// path builds a route from a format and names, each checked for being
// non-empty (an empty name would reach another route) and path-escaped.
func path(what, format string, names ...string) (string, error) {
	args := make([]any, len(names))
	for i, n := range names {
		if n == "" {
			return "", &StatusError{HTTPStatus: http.StatusBadRequest, Code: CodeInvalid, Msg: fmt.Sprintf("no %s name given: name one (`fatbox ls` lists them)", what)}
		}
		args[i] = url.PathEscape(n)
	}
	return fmt.Sprintf(format, args...), nil
}

func (c *Client) Create(ctx context.Context, req CreateRequest) (Container, error) {
	var out Container
	err := c.untimed().Do(ctx, http.MethodPost, "/v1/containers", req, &out)
	return out, err
}

func (c *Client) ListContainers(ctx context.Context) ([]Container, error) {
	var out []Container
	err := c.Do(ctx, http.MethodGet, "/v1/containers", nil, &out)
	return out, err
}

func (c *Client) Inspect(ctx context.Context, name string) (ContainerInfo, error) {
	var out ContainerInfo
	p, err := path("container", "/v1/containers/%s", name)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

func (c *Client) Remove(ctx context.Context, name string, releaseIP bool) error {
	p, err := path("container", "/v1/containers/%s", name)
	if err != nil {
		return err
	}
	if releaseIP {
		p += "?release_ip=1"
	}
	return c.untimed().Do(ctx, http.MethodDelete, p, nil, nil)
}

func (c *Client) Stop(ctx context.Context, name string) error {
	p, err := path("container", "/v1/containers/%s/stop", name)
	if err != nil {
		return err
	}
	return c.untimed().Do(ctx, http.MethodPost, p, struct{}{}, nil)
}

func (c *Client) Start(ctx context.Context, name string) (Container, error) {
	return c.lifecycle(ctx, name, "start")
}

func (c *Client) Restart(ctx context.Context, name string) (Container, error) {
	return c.lifecycle(ctx, name, "restart")
}

func (c *Client) lifecycle(ctx context.Context, name, action string) (Container, error) {
	var out Container
	p, err := path("container", "/v1/containers/%s/"+action, name)
	if err != nil {
		return out, err
	}
	err = c.untimed().Do(ctx, http.MethodPost, p, struct{}{}, &out)
	return out, err
}

// Rename gives a stopped container a new name; its IP, MAC, disk and host keys go with it.
func (c *Client) Rename(ctx context.Context, name, newName string) (Container, error) {
	var out Container
	p, err := path("container", "/v1/containers/%s/rename", name)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodPost, p, RenameRequest{Name: newName}, &out)
	return out, err
}
