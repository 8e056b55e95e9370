package dockerbuild

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Sentinel errors.
var (
	// ErrUnsupported: an instruction or flag fatbox's builder does not run.
	ErrUnsupported = errors.New("unsupported Dockerfile instruction")
	// ErrInvalid: a Dockerfile, context or request the builder cannot take.
	ErrInvalid = errors.New("invalid build")
	// ErrDigest: FROM name@sha256:X names content the store's name does not hold.
	ErrDigest = errors.New("base image digest mismatch")
	// ErrRunFailed: a RUN exited non-zero.
	ErrRunFailed = errors.New("RUN failed")
)

// Supported lists the instructions the builder runs, for error messages.
const Supported = "FROM, COPY, ADD, RUN, ENV, ARG, WORKDIR, EXPOSE, LABEL, USER"

// Instruction is one parsed Dockerfile line (continuations joined).
type Instruction struct {
	Line     int      // first line in the Dockerfile
	Cmd      string   // upper case: FROM, RUN, ...
	Original string   // the text as written, flags included
	Args     []string // raw arguments, not yet expanded
	JSON     bool     // exec form (["a", "b"])
	Flags    []string // e.g. --chown=www-data
}

var unsupportedHint = map[string]string{
	"CMD":         "fatbox containers run supervisord as PID 1: COPY a [program:NAME] file to /etc/supervisor/conf.d/NAME.conf instead",
	"ENTRYPOINT":  "fatbox containers run supervisord as PID 1: COPY a [program:NAME] file to /etc/supervisor/conf.d/NAME.conf instead",
	"HEALTHCHECK": "use `fatbox release --check` or a monitoring check instead",
	"VOLUME":      "use `fatbox volume create` and `fatbox create --volume` instead",
	"ONBUILD":     "write the steps into the app's own Dockerfile",
	"STOPSIGNAL":  "set stopsignal in the program's supervisord file",
	"SHELL":       "RUN uses /bin/sh -c; write the shell into the command (RUN [\"/bin/bash\", \"-c\", \"...\"])",
	"MAINTAINER":  "use LABEL maintainer=...",
}

// Parse reads a Dockerfile with buildkit's parser and checks that every
// instruction is one the builder runs, with flags it honours. The first
// instruction (after ARGs) must be the one FROM.
func Parse(r io.Reader) ([]Instruction, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("Dockerfile does not parse: %v: %w", err, ErrInvalid)
	}
	var out []Instruction
	froms := 0
	for _, n := range res.AST.Children {
		in := Instruction{Line: n.StartLine, Cmd: strings.ToUpper(n.Value), Original: n.Original, JSON: n.Attributes["json"], Flags: n.Flags}
		for a := n.Next; a != nil; a = a.Next {
			in.Args = append(in.Args, a.Value)
		}
		if len(n.Heredocs) > 0 {
			return nil, fmt.Errorf("line %d: %s with a heredoc (<<EOF) is not supported: put the text in a file of the context and COPY it: %w", in.Line, in.Cmd, ErrUnsupported)
		}
		if err := check(in, froms); err != nil {
			return nil, err
		}
		if in.Cmd == "FROM" {
			froms++
		}
		out = append(out, in)
	}
	if froms == 0 {
		return nil, fmt.Errorf("the Dockerfile has no FROM: start it with FROM <fatbox image> (see `fatbox image ls`): %w", ErrInvalid)
	}
	return out, nil
}

func check(in Instruction, froms int) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("line %d: %s: %s: %w", in.Line, in.Cmd, fmt.Sprintf(format, args...), ErrUnsupported)
	}
	switch in.Cmd {
	case "FROM":
		if froms > 0 {
			return bad("a second FROM (a multi-stage build) is not supported: build the artifact first and COPY it from the context")
		}
		if len(in.Flags) > 0 {
			return bad("flag %s is not supported: FROM takes a fatbox image name (or name@sha256:<id>)", in.Flags[0])
		}
		if len(in.Args) != 1 && !(len(in.Args) == 3 && strings.EqualFold(in.Args[1], "AS")) {
			return fmt.Errorf("line %d: FROM takes one image name: %w", in.Line, ErrInvalid)
		}
	case "ARG":
		if len(in.Args) != 1 {
			return fmt.Errorf("line %d: ARG takes one NAME[=default]: %w", in.Line, ErrInvalid)
		}
		return nil
	case "COPY", "ADD":
		for _, f := range in.Flags {
			if !strings.HasPrefix(f, "--chown=") {
				return bad("flag %s is not supported: COPY and ADD take --chown=USER[:GROUP] only", f)
			}
		}
		if len(in.Args) < 2 {
			return fmt.Errorf("line %d: %s needs a source and a destination: %w", in.Line, in.Cmd, ErrInvalid)
		}
	case "RUN":
		if len(in.Flags) > 0 {
			return bad("flag %s is not supported: RUN has no mounts or network modes here (the build's --network flag gives every RUN the host's network)", in.Flags[0])
		}
		if len(in.Args) == 0 {
			return fmt.Errorf("line %d: RUN needs a command: %w", in.Line, ErrInvalid)
		}
	case "ENV", "LABEL":
		if len(in.Args) == 0 || len(in.Args)%3 != 0 {
			return fmt.Errorf("line %d: %s needs KEY=VALUE pairs: %w", in.Line, in.Cmd, ErrInvalid)
		}
	case "WORKDIR", "USER":
		if len(in.Args) != 1 {
			return fmt.Errorf("line %d: %s takes one argument: %w", in.Line, in.Cmd, ErrInvalid)
		}
	case "EXPOSE":
		if len(in.Args) == 0 {
			return fmt.Errorf("line %d: EXPOSE needs a port: %w", in.Line, ErrInvalid)
		}
	default:
		hint := unsupportedHint[in.Cmd]
		if hint == "" {
			hint = "rewrite it with the supported ones"
		}
		return fmt.Errorf("line %d: %s is not supported by fatbox's builder (it runs %s): %s: %w", in.Line, in.Cmd, Supported, hint, ErrUnsupported)
	}
	if froms == 0 && in.Cmd != "FROM" {
		return fmt.Errorf("line %d: %s before FROM: only ARG may come before FROM: %w", in.Line, in.Cmd, ErrInvalid)
	}
	return nil
}

// State is what the instructions so far have set: it is what a RUN sees
// and what the image records.
type State struct {
	Env     []string          // KEY=VALUE in the order set
	Args    map[string]string // ARG values in scope
	WorkDir string            // "" means /
	User    string            // "" means root
	Labels  map[string]string
	Ports   []string // EXPOSEd, e.g. "8080/tcp"
}

func (s State) clone() State {
	c := s
	c.Env = slices.Clone(s.Env)
	c.Ports = slices.Clone(s.Ports)
	c.Args = map[string]string{}
	for k, v := range s.Args {
		c.Args[k] = v
	}
	c.Labels = map[string]string{}
	for k, v := range s.Labels {
		c.Labels[k] = v
	}
	return c
}

// Getenv is the value of KEY in the environment ("" and false if unset).
func (s State) Getenv(key string) (string, bool) {
	for i := len(s.Env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(s.Env[i], "="); k == key {
			return v, true
		}
	}
	return "", false
}

func (s *State) setenv(key, val string) {
	s.Env = slices.DeleteFunc(s.Env, func(kv string) bool { k, _, _ := strings.Cut(kv, "="); return k == key })
	s.Env = append(s.Env, key+"="+val)
}

// lookup is the environment expansions see: ENV over ARG.
type lookup State

func (l lookup) Get(k string) (string, bool) {
	if v, ok := State(l).Getenv(k); ok {
		return v, true
	}
	v, ok := l.Args[k]
	return v, ok
}

func (l lookup) Keys() []string {
	var ks []string
	for _, kv := range l.Env {
		k, _, _ := strings.Cut(kv, "=")
		ks = append(ks, k)
	}
	for k := range l.Args {
		ks = append(ks, k)
	}
	return ks
}

// Step is an instruction with its words expanded against the state before it.
type Step struct {
	Instruction
	// For COPY/ADD: Srcs (context-relative), Dest (absolute in the image), Chown.
	Srcs  []string
	Dest  string
	Chown string
	// For RUN: the argv (shell form is /bin/sh -c TEXT).
	Argv []string
	// For FROM: the image name and the digest it was pinned to ("" if none).
	Image, Digest string
}

// ChangesFiles: the step makes a layer (the others change only the config).
func (s Step) ChangesFiles() bool {
	switch s.Cmd {
	case "COPY", "ADD", "RUN", "WORKDIR":
		return true
	}
	return false
}

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	portRE   = regexp.MustCompile(`^[0-9]{1,5}(/(tcp|udp|sctp))?$`)
)

// Apply expands in against st and returns the step and the state after it.
// It is pure: files are not touched.
func Apply(st State, in Instruction) (Step, State, error) {
	lex := shell.NewLex('\\')
	word := func(w string) (string, error) {
		v, _, err := lex.ProcessWord(w, lookup(st))
		if err != nil {
			return "", fmt.Errorf("line %d: %s: %q: %v: %w", in.Line, in.Cmd, w, err, ErrInvalid)
		}
		return v, nil
	}
	next := st.clone()
	step := Step{Instruction: in}
	switch in.Cmd {
	case "FROM":
		ref, err := word(in.Args[0])
		if err != nil {
			return step, st, err
		}
		name, dg, pinned := strings.Cut(ref, "@")
		if pinned && !digestRE.MatchString(dg) {
			return step, st, fmt.Errorf("line %d: FROM %s: the digest must be sha256:<64 hex digits> (the image's content id, `fatbox image inspect %s`): %w", in.Line, ref, name, ErrInvalid)
		}
		step.Image, step.Digest = name, strings.TrimPrefix(dg, "sha256:")
		// ARGs before FROM are not in scope after it unless declared again.
		next.Args = map[string]string{}
	case "ARG":
		k, v, hasDefault := strings.Cut(in.Args[0], "=")
		if hasDefault {
			var err error
			if v, err = word(v); err != nil {
				return step, st, err
			}
		}
		next.Args[k] = v
	case "ENV", "LABEL":
		for i := 0; i+1 < len(in.Args); i += 3 {
			k, err := word(in.Args[i])
			if err != nil {
				return step, st, err
			}
			v, err := word(in.Args[i+1])
			if err != nil {
				return step, st, err
			}
			if in.Cmd == "ENV" {
				next.setenv(k, v)
			} else {
				next.Labels[k] = v
			}
		}
	case "WORKDIR":
		w, err := word(in.Args[0])
		if err != nil {
			return step, st, err
		}
		next.WorkDir = absIn(st.WorkDir, w)
		step.Dest = next.WorkDir
	case "USER":
		u, err := word(in.Args[0])
		if err != nil {
			return step, st, err
		}
		next.User = u
	case "EXPOSE":
		for _, a := range in.Args {
			p, err := word(a)
			if err != nil {
				return step, st, err
			}
			if !portRE.MatchString(p) {
				return step, st, fmt.Errorf("line %d: EXPOSE %q: give PORT or PORT/tcp|udp: %w", in.Line, p, ErrInvalid)
			}
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			if n, _ := strconv.Atoi(strings.Split(p, "/")[0]); n < 1 || n > 65535 {
				return step, st, fmt.Errorf("line %d: EXPOSE %q: ports are 1-65535: %w", in.Line, p, ErrInvalid)
			}
			if !slices.Contains(next.Ports, p) {
				next.Ports = append(next.Ports, p)
			}
		}
	case "COPY", "ADD":
		args := in.Args
		for _, a := range args {
			w, err := word(a)
			if err != nil {
				return step, st, err
			}
			step.Srcs = append(step.Srcs, w)
		}
		dest := step.Srcs[len(step.Srcs)-1]
		step.Srcs = step.Srcs[:len(step.Srcs)-1]
		step.Dest = absIn(st.WorkDir, dest)
		if strings.HasSuffix(dest, "/") || dest == "." {
			step.Dest += "/"
		}
		for _, f := range in.Flags {
			if v, ok := strings.CutPrefix(f, "--chown="); ok {
				c, err := word(v)
				if err != nil {
					return step, st, err
				}
				step.Chown = c
			}
		}
		for _, s := range step.Srcs {
			if err := checkSource(in, s); err != nil {
				return step, st, err
			}
		}
	case "RUN":
		if in.JSON {
			step.Argv = slices.Clone(in.Args)
		} else {
			// The shell expands variables itself, from the environment.
			step.Argv = []string{"/bin/sh", "-c", in.Args[0]}
		}
	}
	return step, next, nil
}

// absIn makes p absolute against the working directory wd.
func absIn(wd, p string) string {
	if wd == "" {
		wd = "/"
	}
	if !path.IsAbs(p) {
		p = path.Join(wd, p)
	}
	return path.Clean(p)
}

func checkSource(in Instruction, s string) error {
	low := strings.ToLower(s)
	for _, pre := range []string{"http://", "https://", "git@", "git://", "ssh://", "ftp://"} {
		if strings.HasPrefix(low, pre) {
			return fmt.Errorf("line %d: %s %s: sources from the network are not supported (the build has no network): download it into the build context and %s it from there: %w", in.Line, in.Cmd, s, in.Cmd, ErrUnsupported)
		}
	}
	c := path.Clean(strings.TrimPrefix(s, "/"))
	if c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("line %d: %s %s: the source is outside the build context: move it into the context directory (--context): %w", in.Line, in.Cmd, s, ErrInvalid)
	}
	return nil
}
