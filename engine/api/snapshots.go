package api

import (
	"context"
	"net/http"
	"time"
)

// SnapshotRequest is POST /v1/containers/{name}/snapshots; an empty Name
// names the snapshot by the UTC time (20261202-061503).
type SnapshotRequest struct {
	Name string `json:"name,omitempty"`
}

// Snapshot is a snapshot of a container's root disk and volumes' disks.
type Snapshot struct {
	Name      string    `json:"name"`
	Container string    `json:"container"`
	Created   time.Time `json:"created"`
	Image     string    `json:"image"`
	ImageID   string    `json:"image_id"`
	// Running: the container ran, and was frozen for the copy.
	Running bool `json:"running"`
	// FreezeMS is how long its processes and file systems were frozen.
	FreezeMS float64 `json:"freeze_ms"`
	CopyMS   float64 `json:"copy_ms"`
	// DiskSize is the root disk's size; DiskCopied the bytes copied (its
	// allocated blocks: no reflink, so the copy costs that much IO and space).
	DiskSize   int64            `json:"disk_size"`
	DiskCopied int64            `json:"disk_copied"`
	Volumes    []SnapshotVolume `json:"volumes,omitempty"`
	// Copied is every disk's bytes copied: the space the snapshot takes.
	Copied int64 `json:"copied"`
}

// SnapshotVolume is one volume's disk in a snapshot.
type SnapshotVolume struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Copied int64  `json:"copied"`
}

// RestoreResult is the answer to POST .../snapshots/{snap}/restore.
type RestoreResult struct {
	Snapshot Snapshot `json:"snapshot"`
	Copied   int64    `json:"copied"`
	TookMS   float64  `json:"took_ms"`
	// DiskResized: the disk is back to its size at the snapshot, which the
	// record now says.
	DiskResized bool `json:"disk_resized,omitempty"`
}

// CommitRequest is POST /v1/containers/{name}/commit.
type CommitRequest struct {
	Image string `json:"image"`
}

// CommitResult is the image a commit made and how.
type CommitResult struct {
	Image      Image    `json:"image"`
	Running    bool     `json:"running"`
	FreezeMS   float64  `json:"freeze_ms"`
	UpperBytes int64    `json:"upper_bytes"`
	Stripped   []string `json:"stripped"`
	TookMS     float64  `json:"took_ms"`
}

// CreateSnapshot snapshots a container (snap "" names it by the time).
func (c *Client) CreateSnapshot(ctx context.Context, name, snap string) (Snapshot, error) {
	var out Snapshot
	p, err := path("container", "/v1/containers/%s/snapshots", name)
	if err != nil {
		return out, err
	}
	err = c.untimed().Do(ctx, http.MethodPost, p, SnapshotRequest{Name: snap}, &out)
	return out, err
}

// ListSnapshots lists a container's snapshots, oldest first.
func (c *Client) ListSnapshots(ctx context.Context, name string) ([]Snapshot, error) {
	var out []Snapshot
	p, err := path("container", "/v1/containers/%s/snapshots", name)
	if err != nil {
		return out, err
	}
	err = c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// RemoveSnapshot deletes a snapshot.
func (c *Client) RemoveSnapshot(ctx context.Context, name, snap string) error {
	p, err := path("snapshot", "/v1/containers/%s/snapshots/%s", name, snap)
	if err != nil {
		return err
	}
	return c.untimed().Do(ctx, http.MethodDelete, p, nil, nil)
}

// RestoreSnapshot puts a stopped container's disks back as in the snapshot.
func (c *Client) RestoreSnapshot(ctx context.Context, name, snap string) (RestoreResult, error) {
	var out RestoreResult
	p, err := path("snapshot", "/v1/containers/%s/snapshots/%s/restore", name, snap)
	if err != nil {
		return out, err
	}
	err = c.untimed().Do(ctx, http.MethodPost, p, struct{}{}, &out)
	return out, err
}

// Commit makes an image from a container.
func (c *Client) Commit(ctx context.Context, name, image string) (CommitResult, error) {
	var out CommitResult
	p, err := path("container", "/v1/containers/%s/commit", name)
	if err != nil {
		return out, err
	}
	err = c.untimed().Do(ctx, http.MethodPost, p, CommitRequest{Image: image}, &out)
	return out, err
}
