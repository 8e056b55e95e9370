package sshgw

import (
	"errors"
	"strings"
	"testing"
)

func TestParseWay(t *testing.T) {
	for in, want := range map[string]Way{
		"alice":             {User: "alice"},
		"alice+web-01":      {User: "alice", Container: "web-01"},
		"alice+root+web-01": {User: "alice", Login: "root", Container: "web-01"},
	} {
		if got, err := ParseWay(in); err != nil || got != want {
			t.Errorf("ParseWay(%q) = %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "alice+", "+web", "a+b+c+d", "alice++web"} {
		if _, err := ParseWay(in); !errors.Is(err, ErrBadUserName) {
			t.Errorf("ParseWay(%q) = %v, want ErrBadUserName", in, err)
		}
	}
}

func TestPick(t *testing.T) {
	es := []MenuEntry{{"web-01", "root"}, {"web-02", "deploy"}}
	for in, want := range map[string]int{"1": 0, " 2\r": 1, "web-02": 1, "q": -1, "": -1} {
		if got, err := Pick(in, es); err != nil || got != want {
			t.Errorf("Pick(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "3", "web-03"} {
		if _, err := Pick(in, es); err == nil || !strings.Contains(err.Error(), "from 1 to 2") {
			t.Errorf("Pick(%q) = %v", in, err)
		}
	}
	m := Menu("alice", es)
	if !strings.Contains(m, " 1) web-01") || !strings.Contains(m, " 2) web-02") || !strings.Contains(m, "as deploy") {
		t.Errorf("menu:\n%s", m)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct{ sub, cmd, want string }{
		{"sftp", "", ChannelSFTP},
		{"", "", ChannelShell},
		{"", "uname -a", ChannelExec},
		{"", "rsync --server -vlogDtpre.iLsfxCIvu . /tmp/x", ChannelExec},
		{"", "scp -t /tmp/in", ChannelSFTP},
		{"", "scp -f -- '/tmp/a b'", ChannelSFTP},
		{"", "/usr/bin/scp -r -d -t /tmp", ChannelSFTP},
		{"", "scp --help", ChannelExec},
	} {
		if got := classify(tc.sub, tc.cmd); got != tc.want {
			t.Errorf("classify(%q, %q) = %q, want %q", tc.sub, tc.cmd, got, tc.want)
		}
	}
}

func TestExecArgs(t *testing.T) {
	got := execArgs(&job{login: "deploy", cmd: "echo 'a b'; exit 3"})
	want := []string{"setpriv", "--reuid=deploy", "--regid=deploy", "--init-groups", "--reset-env", "--", "sh", "-c", `cd "$HOME" 2>/dev/null || cd /; exec "$SHELL" -c "$1"`, "sh", "echo 'a b'; exit 3"}
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("execArgs(command) = %q", got)
	}
	if got := execArgs(&job{login: "root", subsystem: "sftp"}); got[len(got)-1] != `cd "$HOME" 2>/dev/null || cd /; exec `+SFTPServer {
		t.Errorf("execArgs(sftp) = %q", got)
	}
	if got := execArgs(&job{login: "root"}); got[len(got)-1] != `cd "$HOME" 2>/dev/null || cd /; exec "$SHELL" -l` {
		t.Errorf("execArgs(shell) = %q", got)
	}
}
