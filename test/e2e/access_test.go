package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/test/harness"
)

// throwawayUser is a user made by the test and deleted at cleanup.
type throwawayUser struct {
	name     string
	uid, gid uint32
}

func (u throwawayUser) cred(groups ...uint32) *syscall.Credential {
	if groups == nil {
		groups = []uint32{}
	}
	return &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: groups}
}

func runTool(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// addUser makes a user with a group of its own and no home, in groups.
func addUser(t *testing.T, name string, groups ...string) throwawayUser {
	t.Helper()
	args := []string{"--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin"}
	if len(groups) > 0 {
		args = append(args, "--groups", strings.Join(groups, ","))
	}
	runTool(t, "useradd", append(args, name)...)
	t.Cleanup(func() {
		exec.Command("userdel", name).Run()
		exec.Command("groupdel", name).Run() // its own group, if userdel left it
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return throwawayUser{name: name, uid: uint32(uid), gid: uint32(gid)}
}

// TestSocketAccess: a user outside root and the socket's group cannot drive
// the daemon — the socket's mode refuses the connection, and with the mode
// loosened the daemon's own check (SO_PEERCRED) answers 403 forbidden — a
// member of the group can, and the daemon's log names the uid of every
// mutating request.
func TestSocketAccess(t *testing.T) {
	harness.RequireRoot(t)
	for _, tool := range []string{"useradd", "userdel", "groupadd", "groupdel"} {
		_, err := exec.LookPath(tool)
		harness.Require(t, err == nil, "%s (Debian package passwd)", tool)
	}
	suffix := harness.Name("")
	group := "fbx-grp-" + suffix
	runTool(t, "groupadd", group)
	t.Cleanup(func() { exec.Command("groupdel", group).Run() })
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	gid64, _ := strconv.Atoi(g.Gid)
	gid := uint32(gid64)
	out := addUser(t, "fbx-out-"+suffix)
	in := addUser(t, "fbx-in-"+suffix, group)

	dir, err := os.MkdirTemp("", "fatbox-e2e-access-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // every user reaches the socket's directory
	cfg := filepath.Join(dir, "fatbox.yaml")
	if err := os.WriteFile(cfg, []byte("socket_group: "+group+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "fatbox.sock")
	d := startDaemon(t, filepath.Join(dir, "state"), sock, "--config", cfg)

	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o660 || st.Uid != 0 || st.Gid != gid {
		t.Fatalf("socket is %d:%d %v, want 0:%d (%s) 0660", st.Uid, st.Gid, fi.Mode().Perm(), gid, group)
	}

	poolArgs := func(name, cidr string) []string {
		return []string{"pool", "create", name, "--cidr", cidr, "--bridge", "fbxanone0", "--socket", sock}
	}
	// Outside the group: the kernel refuses the connection.
	for _, args := range [][]string{{"status", "--socket", sock}, poolArgs("out-pool", "198.19.74.0/26")} {
		r := runAs(t, out.cred(), args...)
		cliLine(t, out.name+": fatbox "+strings.Join(args, " "), r, "permission denied", sock)
		t.Logf("%s: fatbox %s: %s", out.name, args[0], strings.TrimSpace(r.Stderr))
		// The daemon runs: telling the user to start it sends them the
		// wrong way (their access is what is missing).
		if strings.Contains(r.Stderr, "start it with") {
			t.Errorf("%s: fatbox %s on a socket it may not open says to start the daemon, which runs: %q", out.name, args[0], strings.TrimSpace(r.Stderr))
		}
	}

	// In the group (a supplementary group): served.
	inCred := in.cred(gid)
	if r := runAs(t, inCred, "status", "--socket", sock, "-o", "json"); r.Code != 0 {
		t.Errorf("%s: fatbox status: exit %d: %s", in.name, r.Code, r.Stderr)
	} else {
		var s api.Status
		if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil || s.Socket != sock {
			t.Errorf("%s: fatbox status: %v %q", in.name, err, r.Stdout)
		}
	}
	if r := runAs(t, inCred, poolArgs("in-pool", "198.19.74.64/26")...); r.Code != 0 {
		t.Errorf("%s: fatbox pool create: exit %d: %s", in.name, r.Code, r.Stderr)
	}
	if r := runAs(t, inCred, "pool", "rm", "in-pool", "--socket", sock); r.Code != 0 {
		t.Errorf("%s: fatbox pool rm: exit %d: %s", in.name, r.Code, r.Stderr)
	}

	// The socket's mode loosened by hand: the daemon still refuses the
	// outsider, by uid.
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	forbidden := fmt.Sprintf("uid %d may not drive the fatbox daemon", out.uid)
	r := runAs(t, out.cred(), "status", "--socket", sock)
	cliLine(t, out.name+" on a 0666 socket: fatbox status", r, forbidden, group)
	t.Logf("%s on a 0666 socket: fatbox status: %s", out.name, strings.TrimSpace(r.Stderr))
	cliLine(t, out.name+" on a 0666 socket: fatbox pool create", runAs(t, out.cred(), poolArgs("out-pool", "198.19.74.128/26")...), forbidden)
	raw := asUser{bin: newRawClient(t), cred: out.cred()}
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/v1/status", ""},
		{"POST", "/v1/pools", `{"name":"out-pool","cidr":"198.19.74.128/26","gateway":"198.19.74.129","bridge":"fbxanone1"}`},
	} {
		where := fmt.Sprintf("%s (uid %d) on a 0666 socket: %s %s", out.name, out.uid, req.method, req.path)
		a := raw.do(t, sock, req.method, req.path, req.body)
		if e, ok := apiError(t, where, a); ok && (a.Status != 403 || e.Code != api.CodeForbidden || !strings.Contains(e.Error, forbidden)) {
			t.Errorf("%s: HTTP %d %q %q, want 403 forbidden: %s", where, a.Status, e.Code, e.Error, forbidden)
		}
	}
	// The outsider changed nothing.
	if r := fatbox(t, "pool", "ls", "--socket", sock); r.Code != 0 || strings.Contains(r.Stdout, "out-pool") || strings.Contains(r.Stdout, "in-pool") {
		t.Errorf("pools after the outsider's tries: exit %d %q %q", r.Code, r.Stdout, r.Stderr)
	}

	// The daemon's log: the member's mutating requests by uid, the
	// outsider's refusals by uid.
	d.Stop()
	log := d.Log.String()
	for _, want := range [][]string{
		{fmt.Sprintf("uid=%d ", in.uid), "method=POST path=/v1/pools ", "status=200"},
		{fmt.Sprintf("uid=%d ", in.uid), "method=DELETE path=/v1/pools/in-pool ", "status=200"},
		{"refused a caller", fmt.Sprintf("uid=%d ", out.uid), "method=POST path=/v1/pools"},
		{"refused a caller", fmt.Sprintf("uid=%d ", out.uid), "method=GET path=/v1/status"},
	} {
		if !logHas(log, want...) {
			t.Errorf("the daemon's log has no line with %q:\n%s", want, log)
		}
	}
	if logHas(log, "method=GET path=/v1/status", "status=200", "msg=request") {
		t.Errorf("the daemon logged a read-only request as if it changed something:\n%s", log)
	}
}

// logHas reports whether one line of log holds every part.
func logHas(log string, parts ...string) bool {
	for _, l := range strings.Split(log, "\n") {
		ok := true
		for _, p := range parts {
			if !strings.Contains(l, p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
