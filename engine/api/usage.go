package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// UsageRow is one container's usage in one billing period: the figures of
// the billing table's row (see cmdbsync/billing.go for the policy).
type UsageRow struct {
	ContainerID    string    `json:"container_id"`
	Name           string    `json:"name"`
	PeriodStart    time.Time `json:"period_start"`
	PeriodEnd      time.Time `json:"period_end"`
	VCPUHours      float64   `json:"vcpu_hours"`
	MemoryGiBHours float64   `json:"memory_gib_hours"`
	DiskGiBHours   float64   `json:"disk_gib_hours"`
	CPUSeconds     float64   `json:"cpu_seconds"`
	NetBytesIn     uint64    `json:"net_bytes_in"`
	NetBytesOut    uint64    `json:"net_bytes_out"`
	// Late: the row holds usage that accrued unobserved before its period
	// (the daemon was down) and was first observed in it.
	Late bool `json:"late"`
}

// Usage is GET /v1/usage?name=&from=&to=: the rows of the periods that
// start in [From, To) and have ended, computed from the store.
type Usage struct {
	From          time.Time  `json:"from"`
	To            time.Time  `json:"to"`
	PeriodSeconds int64      `json:"period_seconds"`
	Rows          []UsageRow `json:"rows"`
}

// BillingStatus is the billing loop's state, in `fatbox status`.
type BillingStatus struct {
	Target        string `json:"target"`
	Database      string `json:"database"` // host:port/database
	PeriodSeconds int64  `json:"period_seconds"`
	Running       bool   `json:"running"`
	Connected     bool   `json:"connected"`
	// BilledUntil: every period before it is in the table; Due how many
	// ended periods are not yet.
	BilledUntil time.Time `json:"billed_until,omitzero"`
	Due         int       `json:"due"`
	Rows        int       `json:"rows"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Failures    int       `json:"failures"`
	NextRetry   time.Time `json:"next_retry,omitzero"`
}

// Usage asks for the usage rows of the periods that start in [from, to)
// (zero times: the daemon's defaults, the last 24 hours), of container name
// ("" for all).
func (c *Client) Usage(ctx context.Context, name string, from, to time.Time) (Usage, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	if !from.IsZero() {
		q.Set("from", from.UTC().Format(time.RFC3339))
	}
	if !to.IsZero() {
		q.Set("to", to.UTC().Format(time.RFC3339))
	}
	p := "/v1/usage"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out Usage
	err := c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}
