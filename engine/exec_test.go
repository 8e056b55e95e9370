package engine

import (
	"testing"
	"time"
)

func TestParsePrograms(t *testing.T) {
	out := "\x1b[0;32msshd                             RUNNING   pid 23, uptime 0:01:05\x1b[0m\n" +
		"\x1b[0;33mcron                             STARTING  Jan 01 1970 00:00 AM\x1b[0m\n" +
		"\x1b[0;31mapp                              EXITED    Dec 02 2026 01:02 AM\x1b[0m\n" +
		"\x1b[0;32mrsyslog                          RUNNING   pid 7, uptime 2 days, 3:04:05\x1b[0m\n\n"
	ps := parsePrograms(out)
	if len(ps) != 4 {
		t.Fatalf("got %d programs: %+v", len(ps), ps)
	}
	want := []Program{
		{Name: "sshd", State: "RUNNING", PID: 23, Uptime: 65 * time.Second, Description: "pid 23, uptime 0:01:05"},
		{Name: "cron", State: "STARTING"},
		{Name: "app", State: "EXITED", Description: "Dec 02 2026 01:02 AM"},
		{Name: "rsyslog", State: "RUNNING", PID: 7, Uptime: 51*time.Hour + 4*time.Minute + 5*time.Second, Description: "pid 7, uptime 2 days, 3:04:05"},
	}
	for i, w := range want {
		if ps[i] != w {
			t.Errorf("program %d: got %+v, want %+v", i, ps[i], w)
		}
	}
}
