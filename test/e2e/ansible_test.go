package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/test/harness"
)

// cpuFactsPlaybook asserts Ansible's CPU and memory facts against each
// host's want_vcpus and want_mem_mb (its limits). ansible_memtotal_mb is
// MemTotal's kB // 1024, so it may be up to 1 MiB under the limit, never
// over; off_by (an extra var) shifts the expectations to show that a
// wrong value fails.
const cpuFactsPlaybook = `- hosts: all
  gather_facts: true
  tasks:
    - name: the CPU and memory facts are the container's limits
      ansible.builtin.assert:
        that:
          - ansible_processor_vcpus == (want_vcpus | int) + (off_by | default(0) | int)
          - ansible_processor_nproc == (want_vcpus | int) + (off_by | default(0) | int)
          - ansible_processor_count == 1
          - ansible_processor_cores == (want_vcpus | int) + (off_by | default(0) | int)
          - ansible_processor_threads_per_core == 1
          - ansible_memtotal_mb <= (want_mem_mb | int) + (off_by | default(0) | int)
          - ansible_memtotal_mb >= (want_mem_mb | int) + (off_by | default(0) | int) - 1
        fail_msg: "vcpus={{ ansible_processor_vcpus }} nproc={{ ansible_processor_nproc }} sockets={{ ansible_processor_count }} cores={{ ansible_processor_cores }} threads={{ ansible_processor_threads_per_core }} memtotal_mb={{ ansible_memtotal_mb }}; want {{ want_vcpus }} vCPUs, {{ want_mem_mb }} MiB"
    - name: roles that branch on the service manager see systemd (vmshim's systemctl)
      ansible.builtin.assert:
        that:
          - ansible_service_mgr == "systemd"
        fail_msg: "ansible_service_mgr={{ ansible_service_mgr }}"
`

// TestAnsibleFacts: the real ansible-playbook, over ssh, asserts
// ansible_processor_vcpus and ansible_memtotal_mb against the limits of
// containers with 1, 2 and 0.5 CPUs (issue 15's must-show); the same
// playbook with the expectations off by one fails.
func TestAnsibleFacts(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath("ansible-playbook")
	harness.Require(t, err == nil, "ansible-playbook (tools/setup-host.sh --test installs ansible-core)")
	start := time.Now()
	e := newVMEnv(t, "198.19.218.0/24")
	t.Logf("daemon up: %s", time.Since(start))
	hosts := []struct {
		name, cpus, memory string
		vcpus, memMiB      int
	}{{"ans-one", "1", "512M", 1, 512}, {"ans-two", "2", "768M", 2, 768}, {"ans-frac", "0.5", "320M", 1, 320}}
	var inv strings.Builder
	for _, h := range hosts {
		ip := e.Create(h.name, "--cpus", h.cpus, "--memory", h.memory, "--disk", "1G").IP
		e.SSH(ip, "true") // sshd is up
		fmt.Fprintf(&inv, "%s ansible_host=%s want_vcpus=%d want_mem_mb=%d\n", h.name, ip, h.vcpus, h.memMiB)
	}
	e.RemoveAtEnd(t, "ans-one", "ans-two", "ans-frac")
	t.Logf("containers up: %s", time.Since(start))
	dir := t.TempDir()
	fmt.Fprintf(&inv, "[all:vars]\nansible_user=root\nansible_ssh_private_key_file=%s\nansible_python_interpreter=/usr/bin/python3\n"+
		"ansible_ssh_common_args='-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no'\n", e.Key)
	files := map[string]string{"hosts": inv.String(), "facts.yml": cpuFactsPlaybook, "ansible.cfg": ""}
	for f, body := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	playbook := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ansible-playbook", append([]string{"-i", filepath.Join(dir, "hosts"), filepath.Join(dir, "facts.yml")}, args...)...)
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(dir, "ansible.cfg"), "ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_NOCOLOR=1",
			"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"), "ANSIBLE_SSH_CONTROL_PATH_DIR="+filepath.Join(dir, "cp"), "ANSIBLE_FORKS=3",
			// No ssh master left behind: it would outlive the test, and its
			// session would hold each container's stop until the timeout.
			"ANSIBLE_SSH_ARGS=-o ControlMaster=no")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t0 := time.Now()
	out, err := playbook()
	t.Logf("playbook over %d hosts: %s", len(hosts), time.Since(t0))
	if err != nil {
		t.Fatalf("ansible-playbook asserting the CPU and memory facts: %v\n%s", err, out)
	}
	for _, h := range hosts {
		if !strings.Contains(out, h.name) || !strings.Contains(out, "All assertions passed") {
			t.Errorf("the playbook's output does not show %s's assertions passing:\n%s", h.name, out)
		}
	}
	if !strings.Contains(out, "failed=0") || strings.Contains(out, "failed=1") || strings.Count(out, "ok=3") != len(hosts) {
		t.Errorf("the playbook's recap is not ok=3 failed=0 (facts, two asserts) for each of the %d hosts:\n%s", len(hosts), out)
	}
	// The assertions do fail on a wrong value.
	out, err = playbook("--limit", "ans-frac", "-e", "off_by=1")
	if err == nil || !strings.Contains(out, `"evaluated_to": false`) || !strings.Contains(out, "vcpus=1 ") {
		t.Errorf("the playbook with expectations off by one: %v, want an assertion failure showing vcpus=1:\n%s", err, out)
	}
}
