package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

func newImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "manage images (build, import, ls, inspect, rm)"}
	var output string
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "table", "output format: table or json")

	build := newImageBuildCmd(g, &output)
	var name string
	imp := &cobra.Command{
		Use: "import FILE --name NAME", Short: "import a rootfs tarball, an OCI archive or a `docker save` archive", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if name == "" {
				return fmt.Errorf("give the image a name with --name")
			}
			p, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			img, err := g.client().ImportImage(ctxOf(cmd), api.ImportRequest{Path: p, Name: name})
			if err != nil {
				return err
			}
			return printImages(cmd.OutOrStdout(), []api.Image{img}, output)
		},
	}
	imp.Flags().StringVar(&name, "name", "", "name of the new image")
	ls := &cobra.Command{
		Use: "ls", Short: "list images", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			imgs, err := g.client().ListImages(ctxOf(cmd))
			if err != nil {
				return err
			}
			return printImages(cmd.OutOrStdout(), imgs, output)
		},
	}
	inspect := &cobra.Command{
		Use: "inspect NAME", Short: "show an image: size, parent, packages, programs, created", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			img, err := g.client().InspectImage(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), img)
			}
			return printImageDetail(cmd.OutOrStdout(), img)
		},
	}
	rm := &cobra.Command{
		Use: "rm NAME", Short: "remove an image (refused while a container uses it)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if err := g.client().RemoveImage(ctxOf(cmd), args[0]); err != nil {
				return err
			}
			return printDone(cmd.OutOrStdout(), output, done{Name: args[0], Action: "removed"}, "image %s removed\n", args[0])
		},
	}
	cmd.AddCommand(build, imp, ls, inspect, rm)
	return cmd
}

func printImages(w io.Writer, imgs []api.Image, output string) error {
	if output == "json" {
		return writeJSON(w, imgs)
	}
	tw := table(w)
	fmt.Fprintln(tw, "NAME\tID\tSOURCE\tPARENT\tSIZE\tPACKAGES\tCREATED")
	for _, i := range imgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f MiB\t%d\t%s\n", i.Name, i.ID[:12], i.Source, chain(i, imgs),
			float64(i.Size)/(1<<20), len(i.Packages), i.Created.Format(time.DateTime))
	}
	return tw.Flush()
}

// chain is an image's ancestry as far as the list knows it:
// "debian12-php <- debian12-fat". A parent is matched by its content ID
// when the image recorded one, else by name; one no longer stored ends the
// chain with its name.
func chain(i api.Image, imgs []api.Image) string {
	var names []string
	seen := map[string]bool{i.Name: true}
	for cur := i; cur.Parent != ""; {
		names = append(names, cur.Parent)
		next, ok := api.Image{}, false
		for _, c := range imgs {
			if c.Name == cur.Parent && (cur.ParentID == "" || c.ID == cur.ParentID) {
				next, ok = c, true
				break
			}
		}
		if !ok || seen[next.Name] {
			break
		}
		seen[next.Name] = true
		cur = next
	}
	return strings.Join(names, " <- ")
}

func printImageDetail(w io.Writer, i api.Image) error {
	var progs []string
	for _, p := range i.Programs {
		progs = append(progs, fmt.Sprintf("%s (autostart %v)", p.Name, p.Autostart))
	}
	parent := i.Parent
	if i.ParentID != "" {
		parent += " (sha256:" + i.ParentID + ")"
	}
	if i.FromContainer != "" {
		parent += ", committed from container " + i.FromContainer
	}
	tw := table(w)
	fmt.Fprintf(tw, "name:\t%s\nid:\tsha256:%s\nsource:\t%s\nrecipe:\t%s\nparent:\t%s\nsize:\t%.1f MiB\ncreated:\t%s\nprograms:\t%s\npackages:\t%d: %s\n",
		i.Name, i.ID, i.Source, i.Recipe, parent, float64(i.Size)/(1<<20), i.Created.Format(time.RFC3339),
		strings.Join(progs, ", "), len(i.Packages), strings.Join(i.Packages, " "))
	if i.Source == "dockerfile" {
		var labels []string
		for k, v := range i.Labels {
			labels = append(labels, k+"="+v)
		}
		sort.Strings(labels)
		fmt.Fprintf(tw, "ports:\t%s\nlabels:\t%s\nworkdir:\t%s\nuser:\t%s\nenv:\t%s\n",
			strings.Join(i.Ports, " "), strings.Join(labels, " "), i.WorkDir, i.User, strings.Join(i.Env, " "))
	}
	return tw.Flush()
}
