package baseimages

import (
	"fmt"
	"sort"
	"strings"
)

// Program is one supervisord program.
type Program struct {
	Name    string `yaml:"name" json:"name"`
	Command string `yaml:"command" json:"command"`
	// User runs the program; "" means root.
	User string `yaml:"user" json:"user,omitempty"`
	// Autostart: start with the container. false means off until an app is deployed.
	Autostart bool `yaml:"autostart" json:"autostart"`
	// Priority orders start (low first) and stop (high first); 0 means 100.
	Priority    int               `yaml:"priority" json:"priority,omitempty"`
	Environment map[string]string `yaml:"environment" json:"environment,omitempty"`
	// StopWaitSecs before SIGKILL; 0 means 10.
	StopWaitSecs int `yaml:"stopwaitsecs" json:"stopwaitsecs,omitempty"`
	// Directory is the program's working directory; "" means supervisord's.
	Directory string `yaml:"directory" json:"directory,omitempty"`
}

// DefaultPrograms is what every fat container runs, whatever its image brings:
// sshd, cron and rsyslog.
func DefaultPrograms() []Program {
	return []Program{
		{Name: "rsyslog", Command: "/usr/sbin/rsyslogd -n -iNONE", Autostart: true, Priority: 5},
		{Name: "sshd", Command: "/bin/sh -c 'mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e'", Autostart: true, Priority: 10},
		{Name: "cron", Command: "/usr/sbin/cron -f", Autostart: true, Priority: 20},
	}
}

// MergePrograms returns base with extra added; an extra program replaces a
// base one of the same name. The result is sorted by priority, then name.
func MergePrograms(base, extra []Program) []Program {
	byName := map[string]Program{}
	for _, p := range base {
		byName[p.Name] = p
	}
	for _, p := range extra {
		byName[p.Name] = p
	}
	out := make([]Program, 0, len(byName))
	for _, p := range byName {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if pi, pj := prio(out[i]), prio(out[j]); pi != pj {
			return pi < pj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func prio(p Program) int {
	if p.Priority == 0 {
		return 100
	}
	return p.Priority
}

// RenderSupervisord renders a supervisord.conf (ochinchina/supervisord
// dialect) for the programs. logDir holds each program's log.
func RenderSupervisord(programs []Program, logDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[supervisord]\nlogfile=%s/supervisord.log\nlogfile_maxbytes=10MB\nlogfile_backups=3\nloglevel=info\npidfile=/run/supervisord.pid\n\n", logDir)
	b.WriteString("[unix_http_server]\nfile=/run/supervisord.sock\n\n[supervisorctl]\nserverurl=unix:///run/supervisord.sock\n\n")
	for _, p := range programs {
		fmt.Fprintf(&b, "[program:%s]\ncommand=%s\nautostart=%v\nautorestart=true\npriority=%d\n", p.Name, p.Command, p.Autostart, prio(p))
		if p.User != "" {
			fmt.Fprintf(&b, "user=%s\n", p.User)
		}
		if p.Directory != "" {
			fmt.Fprintf(&b, "directory=%s\n", p.Directory)
		}
		wait := p.StopWaitSecs
		if wait == 0 {
			wait = 10
		}
		fmt.Fprintf(&b, "stopwaitsecs=%d\nstopsignal=TERM\nredirect_stderr=true\nstdout_logfile=%s/%s.log\nstdout_logfile_maxbytes=10MB\nstdout_logfile_backups=3\n", wait, logDir, p.Name)
		if len(p.Environment) > 0 {
			var kv []string
			for k, v := range p.Environment {
				kv = append(kv, fmt.Sprintf("%s=%q", k, v))
			}
			sort.Strings(kv)
			fmt.Fprintf(&b, "environment=%s\n", strings.Join(kv, ","))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// StopOrder returns the names of programs in the order they stop: the
// highest priority number first (the reverse of the start order), ties by name.
func StopOrder(programs []Program) []string {
	ps := append([]Program(nil), programs...)
	sort.SliceStable(ps, func(i, j int) bool {
		if prio(ps[i]) != prio(ps[j]) {
			return prio(ps[i]) > prio(ps[j])
		}
		return ps[i].Name < ps[j].Name
	})
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}
