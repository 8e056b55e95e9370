package appgen

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrUnknownLayout is returned (wrapped, with the plan's detector report) when
// no detector recognises the app: nothing is written.
var ErrUnknownLayout = errors.New("no detector recognised the app")

// Evidence is where a choice came from: a file and line of the app, or (Path
// "") a default of fatbox or of the base image, said in Note.
type Evidence struct {
	Path string `json:"path,omitempty"`
	Line int    `json:"line,omitempty"` // 0: the file (or directory) as a whole
	Note string `json:"note"`
}

func (e Evidence) String() string {
	switch {
	case e.Path == "":
		return "default: " + e.Note
	case e.Line == 0:
		return e.Path + ": " + e.Note
	default:
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Note)
	}
}

// Detection is one detector's verdict: what it looked for, and what it found
// or why it did not match.
type Detection struct {
	Detector  string     `json:"detector"`
	Matched   bool       `json:"matched"`
	LookedFor string     `json:"looked_for"`
	Why       string     `json:"why"` // the reason it matched or did not
	Evidence  []Evidence `json:"evidence,omitempty"`
}

// Finding is a problem the generated image will have unless the user acts:
// it names the problem and the fix.
type Finding struct {
	Problem  string   `json:"problem"`
	Fix      string   `json:"fix"`
	Evidence Evidence `json:"evidence"`
}

func (f Finding) String() string { return fmt.Sprintf("%s: %s (%s)", f.Evidence, f.Problem, f.Fix) }

// Step is one generated Dockerfile instruction and why it is there.
type Step struct {
	Instruction string     `json:"instruction"` // one line, e.g. "COPY app/ /opt/shop/"
	Evidence    []Evidence `json:"evidence"`
}

// Package is a Debian package the image needs.
type Package struct {
	Name     string   `json:"name"`
	Evidence Evidence `json:"evidence"`
}

// Port is a TCP port the app listens on.
type Port struct {
	Port     int        `json:"port"`
	Evidence []Evidence `json:"evidence"`
}

// Program is a supervisord program the image runs.
type Program struct {
	Name        string      `json:"name"`
	Command     string      `json:"command"`
	Directory   string      `json:"directory,omitempty"`
	User        string      `json:"user,omitempty"`
	Environment [][2]string `json:"environment,omitempty"` // in the order written
	StopWait    int         `json:"stopwaitsecs,omitempty"`
	Evidence    []Evidence  `json:"evidence"`
}

// Plan is what the analysis inferred: everything Render writes, with the
// evidence of each choice. It holds no map, so it renders the same bytes
// every time.
type Plan struct {
	App       string      `json:"app"`
	Kind      string      `json:"kind"` // the detector that chose the base image and the start
	Base      string      `json:"base"` // fatbox image name, e.g. debian12-java
	BaseWhy   Evidence    `json:"base_evidence"`
	Packages  []Package   `json:"packages,omitempty"`
	Ports     []Port      `json:"ports,omitempty"`
	Steps     []Step      `json:"steps"`
	Programs  []Program   `json:"programs,omitempty"`
	Extra     []File      `json:"-"` // generated configuration files (nginx sites)
	Ignore    []string    `json:"dockerignore"`
	Notes     []string    `json:"notes,omitempty"`
	Findings  []Finding   `json:"findings,omitempty"`
	Detectors []Detection `json:"detectors"`
}

// File is one generated file of the build context, path relative to it.
type File struct {
	Path string `json:"path"`
	Data []byte `json:"-"`
	Mode uint32 `json:"mode"`
}

// UnknownError carries the detector report of an app no detector knows.
type UnknownError struct{ Detectors []Detection }

func (e *UnknownError) Error() string {
	var b strings.Builder
	b.WriteString(ErrUnknownLayout.Error())
	b.WriteString("; what each detector looked for:")
	for _, d := range e.Detectors {
		fmt.Fprintf(&b, "\n  %s: looked for %s: %s", d.Detector, d.LookedFor, d.Why)
	}
	b.WriteString("\nfix: point fatbox dockerfile at the application's directory or archive (a WAR, a jar, index.php, requirements.txt, package.json, index.html, a start script, an init script or a systemd unit at its top level)")
	return b.String()
}

func (e *UnknownError) Unwrap() error { return ErrUnknownLayout }

// PortList returns the ports, lowest first.
func (p *Plan) PortList() []int {
	out := make([]int, 0, len(p.Ports))
	for _, x := range p.Ports {
		out = append(out, x.Port)
	}
	slices.Sort(out)
	return out
}
