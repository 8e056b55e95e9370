package logfwd

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"tcp://10.0.0.5:514", "tcp://10.0.0.5:514"},
		{"udp://10.0.0.5:1514", "udp://10.0.0.5:1514"},
		{"TCP://Logs.Example.COM.:6514", "tcp://logs.example.com:6514"},
		{"tcp://collector:514", "tcp://collector:514"},
		{"udp://[2001:db8::1]:514", "udp://[2001:db8::1]:514"},
	} {
		got, err := Check(c.in)
		if err != nil || got != c.want {
			t.Errorf("Check(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, why string }{
		{"10.0.0.5:514", "no scheme"},
		{"http://10.0.0.5:514", `scheme "http"`},
		{"relp://10.0.0.5:514", `scheme "relp"`},
		{"tcp://10.0.0.5", "port is required"},
		{"tcp://10.0.0.5:0", `port "0"`},
		{"tcp://10.0.0.5:65536", `port "65536"`},
		{"tcp://10.0.0.5:syslog", `port "syslog"`},
		{"tcp://10.0.0.5:514/x", "no path"},
		{"tcp://u@10.0.0.5:514", "no path, user"},
		{"tcp://0.0.0.0:514", "not one a collector can have"},
		{"tcp://bad_host:514", "neither an IP address nor a host name"},
		{"tcp://-x.example:514", "neither"},
		{`tcp://a"b:514`, "quotes"},
		{"tcp://:514", "neither"},
		{"udp://2001:db8::1:514", "HOST:PORT"},
	} {
		_, err := Parse(c.in)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), "tcp://10.0.0.5:514") {
			t.Errorf("Parse(%q) = %v; want ErrInvalid saying %q and the fix", c.in, err, c.why)
		}
	}
	if s, err := Check(""); s != "" || err != nil {
		t.Errorf(`Check("") = %q, %v; want none`, s, err)
	}
}

func TestEffective(t *testing.T) {
	if got := Effective("udp://a:1", "tcp://b:2"); got != "udp://a:1" {
		t.Errorf("container's setting must win, got %q", got)
	}
	if got := Effective("", "tcp://b:2"); got != "tcp://b:2" {
		t.Errorf("pool's setting must apply, got %q", got)
	}
}

// The rendered drop-ins match testdata (go test -update rewrites them),
// and rsyslogd accepts them where the host has it.
func TestRenderGolden(t *testing.T) {
	for _, c := range []struct{ url, file string }{
		{"tcp://10.0.0.5:514", "tcp.conf"},
		{"udp://logs.example.com:1514", "udp.conf"},
	} {
		tg, err := Parse(c.url)
		if err != nil {
			t.Fatal(err)
		}
		got := Render(tg)
		golden := filepath.Join("testdata", c.file)
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test ./logfwd -update writes it)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s: rendered\n%s\nwant\n%s", c.url, got, want)
		}
		for _, must := range []string{`type="omfwd"`, `template="RSYSLOG_SyslogProtocol23Format"`, `queue.type="LinkedList"`,
			`queue.filename=`, `action.resumeRetryCount="-1"`, `queue.maxDiskSpace=`} {
			if !strings.Contains(string(got), must) {
				t.Errorf("%s: no %s", c.url, must)
			}
		}
		if strings.Contains(string(got), "TCP_Framing") != (tg.Proto == "tcp") {
			t.Errorf("%s: octet-counted framing is for TCP only", c.url)
		}
		rsyslogCheck(t, got)
	}
}

// rsyslogCheck runs `rsyslogd -N1` on a config holding the drop-in, where
// the host has rsyslogd (the e2e test runs it inside a container anyway).
func rsyslogCheck(t *testing.T, dropIn []byte) {
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		t.Log("rsyslogd is not installed on this host: syntax check left to the e2e test (TestLogForwarding)")
		return
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "rsyslog.conf")
	body := "global(workDirectory=\"" + dir + "\")\n" + string(dropIn)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-N1", "-f", conf).CombinedOutput(); err != nil {
		t.Errorf("rsyslogd -N1 -f %s: %v\n%s", conf, err, out)
	}
}
