package api

import (
	"context"
	"net/http"
	"time"
)

// VolumeMount is a data volume attached to a container at Path.
type VolumeMount struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// Volume is a data volume: a sized ext4 disk of its own that outlives the
// containers it is attached to (one at a time).
type Volume struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	SizeMiB int64  `json:"size_mib"`
	// Node is the host whose disk holds it.
	Node      string    `json:"node"`
	CreatedAt time.Time `json:"created_at"`
	// AttachedTo is the ID of the container it is attached to, "" when
	// free; AttachedName is that container's name, Path where it is
	// mounted in it.
	AttachedTo   string `json:"attached_to,omitempty"`
	AttachedName string `json:"attached_name,omitempty"`
	Path         string `json:"path,omitempty"`
	// Mounted: its disk is mounted on its node (a container runs with it).
	// UsedBytes and SizeBytes are its file system's, while mounted.
	Mounted   bool  `json:"mounted"`
	UsedBytes int64 `json:"used_bytes,omitempty"`
	SizeBytes int64 `json:"size_bytes,omitempty"`
}

// CreateVolumeRequest is POST /v1/volumes.
type CreateVolumeRequest struct {
	Name      string `json:"name"`
	SizeBytes int64  `json:"size_bytes"`
}

func (c *Client) CreateVolume(ctx context.Context, req CreateVolumeRequest) (Volume, error) {
	var out Volume
	err := c.untimed().Do(ctx, http.MethodPost, "/v1/volumes", req, &out)
	return out, err
}

func (c *Client) ListVolumes(ctx context.Context) ([]Volume, error) {
	var out []Volume
	err := c.Do(ctx, http.MethodGet, "/v1/volumes", nil, &out)
	return out, err
}

func (c *Client) GetVolume(ctx context.Context, name string) (Volume, error) {
	var out Volume
	p, err := path("volume", "/v1/volumes/%s", name)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// RemoveVolume deletes a volume and its disk; refused (conflict) while it
// is attached to a container.
func (c *Client) RemoveVolume(ctx context.Context, name string) error {
	p, err := path("volume", "/v1/volumes/%s", name)
	if err != nil {
		return err
	}
	return c.untimed().Do(ctx, http.MethodDelete, p, nil, nil)
}
