package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/fatbox/fatbox/inventory"
)

// The Prometheus file_sd targets file (Config.FileSD): one target group per
// running container of this node created with --exporter-port, its target
// ip:port and the labels of a VM (instance = its name, so Prometheus keeps
// the name as the instance, ip, app, owner, env, node, fatbox_id). The
// daemon rebuilds it from the records every fileSDInterval and writes it,
// atomically (a temporary file in the same directory renamed over it), only
// when its content changes; Prometheus re-reads a file_sd file when it
// changes. A stopped container leaves the file, as its metrics series do.
// Each node writes its own containers: a Prometheus reads every node's file.

// fileSDInterval is how often the file is rebuilt: what a new container
// waits at most to be scraped.
const fileSDInterval = 5 * time.Second

// targetGroup is one entry of a file_sd file.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// fileSDTargets are the target groups of node's running containers that
// run an exporter, by name.
func fileSDTargets(recs []inventory.Record, node string) []targetGroup {
	out := []targetGroup{} // an empty file is "[]", never "null"
	for _, r := range recs {
		if r.Node != node || r.Status != inventory.StatusRunning || r.ExporterPort <= 0 || r.IP == "" {
			continue
		}
		out = append(out, targetGroup{
			Targets: []string{net.JoinHostPort(r.IP, strconv.Itoa(r.ExporterPort))},
			Labels: map[string]string{"instance": r.Name, "ip": r.IP, "app": r.App, "owner": r.Owner, "env": r.Env,
				"node": r.Node, "fatbox_id": r.ID},
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Labels["instance"] < out[j].Labels["instance"] })
	return out
}

// writeFileAtomic replaces path with b: a reader sees the old file or the
// new one, never a part.
func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename: nothing there
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// syncFileSD writes the targets file when its content differs from last
// (what was written before; nil: read the file). It returns what the file
// holds now.
func (d *Daemon) syncFileSD(ctx context.Context, last []byte) ([]byte, error) {
	recs, err := d.inv.List(ctx)
	if err != nil {
		return last, fmt.Errorf("file_sd: list the containers: %w", err)
	}
	b, err := json.MarshalIndent(fileSDTargets(recs, d.cfg.Node), "", "  ")
	if err != nil {
		return last, err
	}
	b = append(b, '\n')
	if last == nil {
		last, _ = os.ReadFile(d.cfg.FileSD)
	}
	if bytes.Equal(b, last) {
		return last, nil
	}
	if err := writeFileAtomic(d.cfg.FileSD, b); err != nil {
		return last, fmt.Errorf("file_sd: write %q: %w: make its directory writable for root or set file_sd to another path", d.cfg.FileSD, err)
	}
	return b, nil
}

// runFileSD keeps the targets file until ctx ends; a failure is logged
// once until it changes or clears.
func (d *Daemon) runFileSD(ctx context.Context) {
	if d.cfg.FileSD == "" {
		return
	}
	var last []byte
	lastErr := ""
	for {
		var err error
		last, err = d.syncFileSD(ctx, last)
		switch {
		case err != nil && ctx.Err() == nil && err.Error() != lastErr:
			d.log.Error("file_sd targets", "error", err)
			lastErr = err.Error()
		case err == nil && lastErr != "":
			d.log.Info("file_sd targets written again", "path", d.cfg.FileSD)
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(fileSDInterval):
		}
	}
}
