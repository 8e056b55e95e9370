package api

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// Query is the query string of a filter.
func (f ListFilter) Query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"app": f.App, "owner": f.Owner, "env": f.Env, "status": f.Status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	keys := make([]string, 0, len(f.Labels))
	for k := range f.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q.Add("label", k+"="+f.Labels[k])
	}
	return q
}

// FindContainers lists the containers a filter selects.
func (c *Client) FindContainers(ctx context.Context, f ListFilter) ([]Container, error) {
	var out []Container
	p := "/v1/containers"
	if q := f.Query().Encode(); q != "" {
		p += "?" + q
	}
	err := c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// Update changes a container's sizes, owner, app, env and labels.
func (c *Client) Update(ctx context.Context, name string, req UpdateRequest) (Updated, error) {
	var out Updated
	p, err := path("container", "/v1/containers/%s", name)
	if err != nil {
		return out, err
	}
	err = c.untimed().Do(ctx, http.MethodPatch, p, req, &out)
	return out, err
}

// EventQuery selects events: after a position, of one container (its name
// or ID), since a time; Wait holds the answer up to that long until there
// is one (for `fatbox events -f`).
type EventQuery struct {
	After uint64
	Name  string
	Since time.Time
	Limit int
	Wait  time.Duration
}

// Events reads the inventory's event log.
func (c *Client) Events(ctx context.Context, q EventQuery) (Events, error) {
	var out Events
	v := url.Values{}
	if q.After > 0 {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	if q.Name != "" {
		v.Set("name", q.Name)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	cl := c
	if q.Wait > 0 {
		v.Set("wait", q.Wait.String())
		cl = c.untimed()
	}
	p := "/v1/events"
	if e := v.Encode(); e != "" {
		p += "?" + e
	}
	err := cl.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}
