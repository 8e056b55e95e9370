package gwrec

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/engine/daemon"
	"github.com/fatbox/fatbox/sshgw/audit"
	"github.com/fatbox/fatbox/sshgw/record"
	"github.com/fatbox/fatbox/test/e2e/e2ekit"
	"github.com/fatbox/fatbox/test/harness"
)

// TestAuditCommands: what the gateway writes (through sshgw/audit and
// sshgw/record, into the daemon's state dir) is what `fatbox audit ls`,
// `show` and `play` give back through the daemon; the recording replays
// with asciinema showing the output and not the typed input; a session
// that prints without end is cut at its cap with the disk use bounded.
func TestAuditCommands(t *testing.T) {
	asciinema, err := exec.LookPath("asciinema")
	harness.Require(t, err == nil, "asciinema (tools/setup-host.sh --test installs it)")
	env := e2ekit.NewEnv(t, "198.19.198.0/24")

	// The gateway's side: its log and recorder over the daemon's dirs.
	auditDir, recordDir := daemon.GatewayDirs(env.State)
	lg := &audit.Log{Dir: auditDir}
	const cap = 32 << 10
	rec := &record.Recorder{Dir: recordDir, Limits: record.Limits{SessionBytes: cap, TotalBytes: 4 * cap}}
	now := time.Now().UTC()
	sid := audit.NewSessionID(now)
	s, err := rec.Start(sid, 100, 30, map[string]string{"title": "alice@gr-web", "TERM": "xterm-256color", "user": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	s.Output([]byte("root@gr-web:~# "))
	s.Input([]byte("echo typed-secret\r"))
	s.Output([]byte("echo typed-secret\r\nprinted-by-the-shell\r\n"))
	s.Resize(120, 40)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	zero, seven := 0, 7
	for _, e := range []audit.Entry{
		{Time: now.Add(-3 * time.Hour), Kind: audit.KindRefused, User: "mallory", From: "198.18.9.9:4000", Container: "gr-web", Reason: "no rule allows mallory"},
		{Time: now, Kind: audit.KindLogin, Session: sid, User: "alice", From: "198.18.9.8:5000"},
		{Time: now, End: now.Add(time.Minute), Kind: audit.KindSession, Session: sid, User: "alice", From: "198.18.9.8:5000", Container: "gr-web", Login: "root", Channel: "shell", Exit: &zero},
		{Time: now, End: now.Add(2 * time.Second), Kind: audit.KindExec, Session: sid, User: "alice", Container: "gr-web", Login: "root", Command: "false; exit 7", Exit: &seven},
		{Time: now, End: now.Add(time.Second), Kind: audit.KindFile, Session: sid, User: "alice", Container: "gr-web", Login: "root", Channel: "scp", Path: "/srv/app.tar", Direction: audit.Upload, Bytes: 1234567},
	} {
		if err := lg.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	lg.Close()

	var list api.AuditList
	if err := json.Unmarshal([]byte(env.OK("audit", "ls", "--user", "alice", "-o", "json").Stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Entries) != 4 || list.Entries[3].Path != "/srv/app.tar" || list.Entries[3].Bytes != 1234567 || *list.Entries[2].Exit != 7 {
		t.Fatalf("audit ls --user alice: %+v", list.Entries)
	}
	out := env.OK("audit", "ls", "--kind", "file").Stdout
	if !strings.Contains(out, "upload /srv/app.tar, 1234567 bytes") || strings.Contains(out, "mallory") {
		t.Fatalf("audit ls --kind file:\n%s", out)
	}
	if out := env.OK("audit", "ls", "--since", "1h").Stdout; strings.Contains(out, "mallory") || !strings.Contains(out, sid) {
		t.Fatalf("audit ls --since 1h:\n%s", out)
	}
	if out := env.OK("audit", "ls", "--container", "gr-web", "--kind", "refused").Stdout; !strings.Contains(out, "no rule allows mallory") {
		t.Fatalf("audit ls refused:\n%s", out)
	}
	show := env.OK("audit", "show", sid).Stdout
	if !strings.Contains(show, `"false; exit 7"`) || !strings.Contains(show, "exit 7") || !strings.Contains(show, "recording:") || !strings.Contains(show, "fatbox audit play "+sid) {
		t.Fatalf("audit show:\n%s", show)
	}

	// play: through asciinema itself, and saved as a file asciinema plays.
	played := env.OK("audit", "play", sid, "--speed", "50", "--idle", "0.1").Stdout
	// The shell's echo of the line is output; the input stream is not played.
	if !strings.Contains(played, "printed-by-the-shell") || strings.Count(played, "typed-secret") != 1 {
		t.Fatalf("audit play printed %q", played)
	}
	cast := filepath.Join(t.TempDir(), "s.cast")
	env.OK("audit", "play", sid, "--save", cast)
	h, evs, err := record.Parse(mustOpen(t, cast))
	if err != nil {
		t.Fatal(err)
	}
	if h.Width != 100 || h.Height != 30 || h.Env["TERM"] != "xterm-256color" {
		t.Errorf("saved header %+v", h)
	}
	kinds := ""
	for _, e := range evs {
		kinds += e.Kind
	}
	if kinds != "oior" || evs[1].Data != "echo typed-secret\r" || evs[3].Data != "120x40" {
		t.Errorf("saved events %q: %+v", kinds, evs)
	}
	b, err := exec.Command(asciinema, "play", "-i", "0.1", cast).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "printed-by-the-shell") {
		t.Fatalf("asciinema play %s: %v\n%s", cast, err, b)
	}

	// A session that prints without end: cut at its cap, the disk bounded,
	// and the replay ends with the cap's marker.
	endless := audit.NewSessionID(now)
	s, err = rec.Start(endless, 80, 24, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	n := 0
	for ; n < 100000; n++ {
		_, _ = rand.Read(buf)
		s.Output(buf)
		select {
		case <-s.Done():
		default:
			continue
		}
		break
	}
	if !s.Capped() {
		t.Fatalf("%d MiB written and no cap", n*8192>>20)
	}
	s.Close()
	if fi, err := os.Stat(filepath.Join(rec.Dir, endless+record.Ext)); err != nil || fi.Size() > cap {
		t.Fatalf("capped recording: %v, size over %d: %v", fi, cap, err)
	}
	var whole bytes.Buffer
	whole.WriteString(env.OK("audit", "play", endless, "--save", "-").Stdout)
	_, evs, err = record.Parse(&whole)
	if err != nil || !strings.Contains(evs[len(evs)-1].Data, "reached its cap") {
		t.Fatalf("the capped replay does not end with the marker: %v", err)
	}

	// Bad input: one line naming the problem and the fix.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "ls", "--since", "yesterday"}, "--since \"yesterday\": give a duration back"},
		{[]string{"audit", "ls", "--kind", "bogus"}, "use one of login, refused"},
		{[]string{"audit", "show", "nope-404"}, "fatbox audit ls"},
		{[]string{"audit", "play", "nope-404", "--save", "-"}, "has no recording"},
		{[]string{"audit", "play", sid, "--speed", "0"}, "give a speed above 0"},
	} {
		r := e2ekit.Fatbox(t, append(c.args, "--socket", env.Sock)...)
		if r.Code == 0 || !strings.Contains(r.Stderr, c.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
			t.Errorf("fatbox %v: exit %d, stderr %q, want one line with %q", c.args, r.Code, r.Stderr, c.want)
		}
	}
}

func mustOpen(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
