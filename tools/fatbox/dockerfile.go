package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/tools/appgen"
)

type dockerfileOpts struct {
	out, name, output string
	explain           bool
	digests           []string // NAME=sha256:...
}

func newDockerfileCmd(g *globals) *cobra.Command {
	var o dockerfileOpts
	cmd := &cobra.Command{
		Use:   "dockerfile DIR|ARCHIVE",
		Short: "look at a legacy app and write a Dockerfile on the right fat base image, with its supervisord programs",
		Long: `Looks at an app (a directory, or a .tar, .tar.gz, .tgz, .zip, .war or .jar) and writes a
build context: the app's files in app/, a Dockerfile FROM the right fat base image named by its
content digest, supervisord programs in fatbox/supervisor/, a .dockerignore and a README.md of
what was inferred. Every instruction carries the evidence it came from (--explain prints it).
Build the result with ` + "`fatbox image build --dockerfile OUT/Dockerfile --name APP:v1`" + `.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDockerfile(ctxOf(cmd), cmd.OutOrStdout(), g.client(), args[0], o)
		},
	}
	cmd.Flags().StringVar(&o.out, "out", "", "the build context to write (a new or empty directory, or one fatbox dockerfile wrote before; default ./APP-fatbox)")
	cmd.Flags().StringVar(&o.name, "name", "", "the app's name: its /opt directory, system user and io.fatbox.app label (default: from the input's file name)")
	cmd.Flags().BoolVar(&o.explain, "explain", false, "print each instruction with the file and line it came from, and every detector's verdict")
	cmd.Flags().StringArrayVar(&o.digests, "base-digest", nil, "NAME=sha256:HEX: the base image's content digest, instead of asking the daemon (repeatable)")
	addOutputFlag(cmd, &o.output)
	return cmd
}

// imageInspector is what dockerfile needs of the daemon: a base image's content ID.
type imageInspector interface {
	InspectImage(ctx context.Context, name string) (api.Image, error)
}

var _ imageInspector = (*api.Client)(nil)

var baseDigestRe = regexp.MustCompile(`^([a-z0-9][a-z0-9._-]*)=(sha256:[0-9a-f]{64})$`)

// dockerfileResult is what -o json prints.
type dockerfileResult struct {
	Out    string        `json:"out"`
	Digest string        `json:"base_digest"`
	Files  []string      `json:"files"`
	Plan   *appgen.Plan  `json:"plan"`
	Steps  []appgen.Step `json:"instructions"`
}

func runDockerfile(ctx context.Context, w io.Writer, images imageInspector, input string, o dockerfileOpts) error {
	if err := checkOutput(o.output); err != nil {
		if strings.ContainsAny(o.output, "/.") {
			return fmt.Errorf("%w (the directory to write is --out %s)", err, o.output)
		}
		return err
	}
	digests := map[string]string{}
	for _, d := range o.digests {
		m := baseDigestRe.FindStringSubmatch(d)
		if m == nil {
			return fmt.Errorf("--base-digest %q: write NAME=sha256: and 64 lower-case hex digits, e.g. debian12-java=sha256:%s", d, strings.Repeat("0", 64))
		}
		digests[m[1]] = m[2]
	}
	abs, err := filepath.Abs(input)
	if err != nil {
		return err
	}
	name := o.name
	if name == "" {
		name = appgen.AppName(filepath.Base(abs))
	}
	out := o.out
	if out == "" {
		out = name + "-fatbox"
	}
	if err := appgen.CheckName(name); err != nil {
		return err // before anything is made
	}
	bc, err := appgen.Stage(input, out)
	if err != nil {
		return err
	}
	res, err := generate(ctx, images, bc, name, digests)
	if err == nil {
		err = bc.Write(res.files, out)
	}
	if err != nil {
		return errors.Join(err, bc.Discard())
	}
	return printDockerfile(w, o, out, res)
}

type generated struct {
	plan   *appgen.Plan
	digest string
	files  []appgen.File
}

// generate analyses the staged app and renders the files, FROM the base
// image's digest (from --base-digest, else the daemon's image store).
func generate(ctx context.Context, images imageInspector, bc *appgen.Context, name string, digests map[string]string) (generated, error) {
	plan, err := appgen.Analyze(bc.AppFS(), appgen.Options{Name: name})
	if err != nil {
		return generated{}, err
	}
	digest, ok := digests[plan.Base]
	if !ok {
		img, err := images.InspectImage(ctx, plan.Base)
		switch {
		case api.ErrorCode(err) == api.CodeNotFound:
			return generated{}, fmt.Errorf("base image %q is not built here: run `fatbox image build %s` first (or name its digest with --base-digest %s=sha256:...)", plan.Base, plan.Base, plan.Base)
		case err != nil:
			return generated{}, fmt.Errorf("ask the daemon for base image %q's digest: %w (start it with `fatbox daemon`, or give --base-digest %s=sha256:...)", plan.Base, err, plan.Base)
		}
		digest = "sha256:" + img.ID
	}
	files, err := appgen.Render(plan, digest)
	if err != nil {
		return generated{}, err
	}
	return generated{plan: plan, digest: digest, files: files}, nil
}

func printDockerfile(w io.Writer, o dockerfileOpts, out string, g generated) error {
	var names []string
	for _, f := range g.files {
		names = append(names, f.Path)
	}
	if o.output == "json" {
		return writeJSON(w, dockerfileResult{Out: out, Digest: g.digest, Files: names, Plan: g.plan, Steps: appgen.Instructions(g.plan, g.digest)})
	}
	p := g.plan
	if o.explain {
		for _, s := range appgen.Instructions(p, g.digest) {
			fmt.Fprintln(w, s.Instruction)
			for _, e := range s.Evidence {
				fmt.Fprintf(w, "    from %s\n", e)
			}
		}
		for _, prog := range p.Programs {
			fmt.Fprintf(w, "program %s: %s\n", prog.Name, prog.Command)
			for _, e := range prog.Evidence {
				fmt.Fprintf(w, "    from %s\n", e)
			}
		}
		fmt.Fprintln(w, "detectors:")
		for _, d := range p.Detectors {
			verdict := "no match"
			if d.Matched {
				verdict = "matched"
			}
			fmt.Fprintf(w, "  %s: %s: %s (looked for %s)\n", d.Detector, verdict, d.Why, d.LookedFor)
		}
	}
	fmt.Fprintf(w, "wrote %s: %s app %s FROM %s@%s, ports %v, files %s\n", out, p.Kind, p.App, p.Base, g.digest, p.PortList(), strings.Join(names, " "))
	for _, f := range p.Findings {
		fmt.Fprintf(w, "finding: %s\n", f)
	}
	fmt.Fprintf(w, "build it: fatbox image build --dockerfile %s --name %s:v1\n", filepath.Join(out, "Dockerfile"), p.App)
	return nil
}
