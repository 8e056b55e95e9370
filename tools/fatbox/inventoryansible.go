package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

// ansibleScriptName is the name under which the fatbox binary behaves as an
// Ansible inventory script (a symlink or a copy by that name).
const ansibleScriptName = "fatbox-ansible-inventory"

const ansibleHelp = `ansible prints the containers as an Ansible dynamic inventory (the JSON of an
inventory script): --list prints every group with its hosts, and _meta.hostvars
with every host's variables, so Ansible never calls --host; --host NAME prints
one host's variables.

As an inventory script: Ansible runs an executable inventory file with --list
(or --host NAME). fatbox is one when called by the name ` + ansibleScriptName + `,
so a symlink is the script:

    ln -s "$(command -v fatbox)" /etc/ansible/` + ansibleScriptName + `
    ansible -i /etc/ansible/` + ansibleScriptName + ` app_orders -m ping

The script takes no flags: the daemon's socket comes from $FATBOX_SOCKET
(else /run/fatbox/fatbox.sock).

Hosts are the container names. Groups:
  running, stopped       each container is in the group of its status
                         (creating, stopping, removing for the others)
  app_<app>, env_<env>, owner_<owner>, node_<node>, <key>_<value> of each label
                         running containers only
  all                    the parent of every group above
A container that is not running is only in its status group: no app, env,
owner, node or label group holds it, so a play on app_orders never waits on a
stopped container. ansible all still lists it (Ansible puts every host in all):
target running, or a group, to act only on what answers.

Group names hold only letters, digits and underscores, as Ansible wants them:
every other character becomes an underscore (app "web-shop" is app_web_shop,
label tier=front.end is tier_front_end), and a name that would start with a
digit gets a leading underscore. Case is kept. Values that differ only in
replaced characters share a group, and a label's group merges with an app,
env, owner or node group of the same name (a label app=orders joins app_orders).

Host variables: ansible_host, the container's IP (absent when it has none: a
stopped container whose lease was released, a release's -last; Ansible would
then use the name itself), and every field of the record under a fatbox_
prefix, always present (empty when unset), so they never collide with yours:
fatbox_id, fatbox_name, fatbox_hostname, fatbox_ip, fatbox_mac, fatbox_pool,
fatbox_node, fatbox_image, fatbox_vcpus, fatbox_cpus, fatbox_memory_mib,
fatbox_disk_mib, fatbox_owner, fatbox_app, fatbox_env, fatbox_labels (a map),
fatbox_status, fatbox_stop_reason, fatbox_volumes (a list of name and path),
fatbox_services (a list of name and port).

ansible_user is root, set as a variable of the group all: the lowest
precedence, so your group_vars/all, host_vars or -e ansible_user=deploy win
(Ansible's -u does not beat an inventory's ansible_user: use -e).

The output is sorted: the same containers print the same JSON.`

// ansibleOpts are the flags of `fatbox inventory ansible`.
type ansibleOpts struct {
	list   bool
	host   string
	filter api.ListFilter
	labels []string
}

func newInventoryAnsibleCmd(g *globals) *cobra.Command {
	var o ansibleOpts
	cmd := &cobra.Command{
		Use:   "ansible --list | --host NAME [--app A] [--owner O] [--env E] [--status S] [-l KEY=VALUE]",
		Short: "the containers as an Ansible dynamic inventory (also an inventory script: " + ansibleScriptName + ")",
		Long:  ansibleHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			labels, err := labelFilter(o.labels)
			if err != nil {
				return err
			}
			o.filter.Labels = labels
			return runInventoryAnsible(ctxOf(cmd), cmd.OutOrStdout(), g.client(), o)
		},
	}
	cmd.Flags().BoolVar(&o.list, "list", false, "print every group and every host's variables")
	cmd.Flags().StringVar(&o.host, "host", "", "print the variables of the host (container) NAME")
	cmd.Flags().StringVar(&o.filter.App, "app", "", "only containers of this app")
	cmd.Flags().StringVar(&o.filter.Owner, "owner", "", "only containers of this owner")
	cmd.Flags().StringVar(&o.filter.Env, "env", "", "only containers of this environment")
	cmd.Flags().StringVar(&o.filter.Status, "status", "", "only containers in this status (running, stopped, ...)")
	cmd.Flags().StringArrayVarP(&o.labels, "label", "l", nil, "only containers with this label KEY=VALUE; repeatable (all must match)")
	return cmd
}

func runInventoryAnsible(ctx context.Context, w io.Writer, c *api.Client, o ansibleOpts) error {
	if o.list == (o.host != "") {
		return errorf("give --list (every group and host) or --host NAME (one host's variables), one of them")
	}
	cs, err := c.FindContainers(ctx, o.filter)
	if err != nil {
		return fmt.Errorf("list the containers for the Ansible inventory: %w", err)
	}
	inv := ansibleInventory(cs)
	if o.list {
		return writeJSON(w, inv.list())
	}
	vars, ok := inv.hostvars[o.host]
	if !ok {
		return errorf("container %q is not in the inventory: `fatbox ls` lists the containers (and the filters given here apply to --host too)", o.host)
	}
	return writeJSON(w, vars)
}

// ansibleGroup is one group of the inventory's JSON.
type ansibleGroup struct {
	Hosts    []string       `json:"hosts,omitempty"`
	Children []string       `json:"children,omitempty"`
	Vars     map[string]any `json:"vars,omitempty"`
}

// ansibleInv is an inventory: groups by name (without all) and every
// host's variables.
type ansibleInv struct {
	groups   map[string][]string
	hostvars map[string]map[string]any
}

// list is the JSON of --list: every group, all with the others as its
// children and ansible_user as its variable, and _meta.hostvars.
func (inv ansibleInv) list() map[string]any {
	out := map[string]any{}
	names := make([]string, 0, len(inv.groups))
	for name, hosts := range inv.groups {
		names = append(names, name)
		out[name] = ansibleGroup{Hosts: hosts}
	}
	sort.Strings(names)
	out["all"] = ansibleGroup{Children: names, Vars: map[string]any{"ansible_user": "root"}}
	out["_meta"] = map[string]any{"hostvars": inv.hostvars}
	return out
}

// ansibleInventory builds the inventory of containers: a pure function of
// the records, its host lists sorted.
func ansibleInventory(cs []api.Container) ansibleInv {
	inv := ansibleInv{groups: map[string][]string{}, hostvars: map[string]map[string]any{}}
	add := func(group, host string) {
		if group = ansibleGroupName(group); group != "" {
			inv.groups[group] = append(inv.groups[group], host)
		}
	}
	for _, c := range cs {
		inv.hostvars[c.Name] = ansibleHostVars(c)
		status := c.Status
		if status == "" {
			status = "unknown"
		}
		add(status, c.Name)
		if c.Status != "running" {
			continue
		}
		for _, g := range [][2]string{{"app", c.App}, {"env", c.Env}, {"owner", c.Owner}, {"node", c.Node}} {
			if g[1] != "" {
				add(g[0]+"_"+g[1], c.Name)
			}
		}
		for k, v := range c.Labels {
			add(k+"_"+v, c.Name)
		}
	}
	for g, hosts := range inv.groups {
		sort.Strings(hosts)
		inv.groups[g] = compactStrings(hosts)
	}
	return inv
}

// compactStrings drops repeats from a sorted list (a label group that
// merged with another).
func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// ansibleHostVars are a container's variables: ansible_host when it has an
// address, and every field of the record under fatbox_.
func ansibleHostVars(c api.Container) map[string]any {
	labels := map[string]string{}
	for k, v := range c.Labels {
		labels[k] = v
	}
	volumes := []map[string]string{}
	for _, v := range c.Volumes {
		volumes = append(volumes, map[string]string{"name": v.Name, "path": v.Path})
	}
	services := []map[string]any{}
	for _, sv := range c.Services {
		services = append(services, map[string]any{"name": sv.Name, "port": sv.Port})
	}
	vars := map[string]any{
		"fatbox_id": c.ID, "fatbox_name": c.Name, "fatbox_hostname": c.Hostname, "fatbox_ip": c.IP, "fatbox_mac": c.MAC,
		"fatbox_pool": c.Pool, "fatbox_node": c.Node, "fatbox_image": c.Image, "fatbox_vcpus": c.VCPUs, "fatbox_cpus": c.CPUs,
		"fatbox_memory_mib": c.MemoryMiB, "fatbox_disk_mib": c.DiskMiB, "fatbox_owner": c.Owner, "fatbox_app": c.App,
		"fatbox_env": c.Env, "fatbox_labels": labels, "fatbox_status": c.Status, "fatbox_stop_reason": c.StopReason,
		"fatbox_volumes": volumes, "fatbox_services": services,
	}
	if c.IP != "" {
		vars["ansible_host"] = c.IP
	}
	return vars
}

// ansibleGroupName is name as Ansible takes a group's: letters, digits and
// underscores, every other character (rune) replaced by one, a leading
// underscore before a leading digit.
func ansibleGroupName(name string) string {
	var out strings.Builder
	for _, r := range name { // a non-ASCII letter is one underscore

		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			out.WriteRune(r)
		default:
			out.WriteByte('_')
		}
	}
	s := out.String()
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	return s
}

// ansibleInventoryArgs are the arguments the command line means: those
// given, or, when fatbox runs as the inventory script (by the name
// ansibleScriptName), `inventory ansible` followed by them.
func ansibleInventoryArgs(argv0 string, args []string) []string {
	if filepath.Base(argv0) != ansibleScriptName {
		return args
	}
	return append([]string{"inventory", "ansible"}, args...)
}
