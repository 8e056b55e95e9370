package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// BuildConfig is one build step's container (a Dockerfile RUN): a process
// on a mounted rootfs, in the foreground, with the default capabilities
// and seccomp filter, no limits but pids.
type BuildConfig struct {
	Rootfs string
	Args   []string
	Env    []string
	Cwd    string
	UID    uint32
	GID    uint32
	// Netns is the network namespace's path; "" shares the host's network.
	Netns string
	// ExtraMounts follow the defaults (/proc, /dev, /sys, a tmpfs /run).
	ExtraMounts []specs.Mount
}

// buildCgroup parents the build steps' cgroups.
const buildCgroup = "fatbox-build"

// BuildSpec is the OCI spec of a build step.
func BuildSpec(id string, c BuildConfig) *specs.Spec {
	caps := append([]string(nil), defaultCaps...)
	pids := int64(4096)
	ns := []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace}}
	if c.Netns != "" {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: c.Netns})
	}
	s := &specs.Spec{
		Version:  specs.Version,
		Hostname: "fatbox-build",
		Root:     &specs.Root{Path: c.Rootfs},
		Process: &specs.Process{
			Args: c.Args, Env: c.Env, Cwd: c.Cwd,
			User:         specs.User{UID: c.UID, GID: c.GID},
			Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
			Rlimits:      rlimits(nil),
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755", "size=65536k"}},
		},
		Linux: &specs.Linux{
			CgroupsPath:   "/" + buildCgroup + "/" + id,
			Namespaces:    ns,
			Resources:     &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}},
			Seccomp:       Seccomp(),
			MaskedPaths:   []string{"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	if c.Netns == "" {
		// The host's network: its resolver too.
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: "/etc/resolv.conf", Options: []string{"rbind", "ro"}})
	}
	s.Mounts = append(s.Mounts, c.ExtraMounts...)
	return s
}

// RunForeground runs a container to its end with its stdout and stderr to
// out, and removes it whatever happens (its processes die with its init).
// A non-zero exit is an error naming the status.
func (r *Runtime) RunForeground(ctx context.Context, id, bundle string, spec *specs.Spec, out io.Writer) error {
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		return err
	}
	rc := r.runc()
	defer func() {
		_ = rc.Delete(context.Background(), id, &runc.DeleteOpts{Force: true})
		// The shared parent goes once no step is left in it (rmdir of a
		// cgroup with children fails, which is what another build wants).
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + buildCgroup)
		for _, d := range append(dirs, "/sys/fs/cgroup/"+buildCgroup) {
			_ = os.Remove(d)
		}
	}()
	logFile := filepath.Join(bundle, "runc.log")
	cmd := exec.CommandContext(ctx, rc.Command, "--root", rc.Root, "--log", logFile, "run", "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Stdin = nil
	err = cmd.Run()
	if ctx.Err() != nil {
		_ = r.Stop(context.Background(), id, 0)
		return ctx.Err()
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if b, _ := os.ReadFile(logFile); strings.Contains(string(b), `"level":"error"`) {
			return fmt.Errorf("runc: %s", strings.TrimPrefix(lastLogLine(logFile), ": "))
		}
		return fmt.Errorf("exit status %d", ee.ExitCode())
	}
	return err
}
