package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/api"
)

type imageBuildFlags struct {
	dockerfile, context, name string
	network, noCache          bool
}

func newImageBuildCmd(g *globals, output *string) *cobra.Command {
	var f imageBuildFlags
	cmd := &cobra.Command{
		Use:   "build RECIPE | build --dockerfile PATH --name NAME[:TAG] [--context DIR] [--network] [--no-cache]",
		Short: "build an image from a recipe (debian12-fat, debian12-java, debian12-php) or a Dockerfile",
		Long: "With a recipe name, builds that recipe with mmdebstrap. With --dockerfile, fatbox's own builder runs the\n" +
			"Dockerfile (FROM a fatbox image, COPY, ADD, RUN, ENV, ARG, WORKDIR, EXPOSE, LABEL, USER) on the daemon's host:\n" +
			"RUN steps have no network unless --network is given (apt-get install is served from packages the host fetches),\n" +
			"and steps whose inputs did not change are taken from the cache.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(*output); err != nil {
				return err
			}
			req, err := buildRequest(args, f)
			if err != nil {
				return err
			}
			return runImageBuild(cmd, g.client(), req, *output)
		},
	}
	cmd.Flags().StringVar(&f.dockerfile, "dockerfile", "", "build this Dockerfile (a path on this host, which must be the daemon's)")
	cmd.Flags().StringVar(&f.context, "context", "", "the build context directory (default: the Dockerfile's directory)")
	cmd.Flags().StringVar(&f.name, "name", "", "name of the image a Dockerfile makes, e.g. app:v1")
	cmd.Flags().BoolVar(&f.network, "network", false, "give RUN steps the host's network (default: loopback only)")
	cmd.Flags().BoolVar(&f.noCache, "no-cache", false, "run every step again")
	return cmd
}

// buildRequest checks the arguments: a recipe, or a Dockerfile and a name.
func buildRequest(args []string, f imageBuildFlags) (api.BuildRequest, error) {
	if f.dockerfile == "" {
		if len(args) != 1 {
			return api.BuildRequest{}, fmt.Errorf("give a recipe name (fatbox image build debian12-fat) or --dockerfile PATH --name NAME")
		}
		if f.context != "" || f.name != "" || f.network || f.noCache {
			return api.BuildRequest{}, fmt.Errorf("--context, --name, --network and --no-cache go with --dockerfile, not a recipe")
		}
		return api.BuildRequest{Recipe: args[0]}, nil
	}
	if len(args) > 0 {
		return api.BuildRequest{}, fmt.Errorf("give --dockerfile or a recipe name %q, not both", args[0])
	}
	if f.name == "" {
		return api.BuildRequest{}, fmt.Errorf("give the image a name with --name, e.g. --name app:v1")
	}
	df, err := filepath.Abs(f.dockerfile)
	if err != nil {
		return api.BuildRequest{}, err
	}
	req := api.BuildRequest{Dockerfile: df, Name: f.name, Network: f.network, NoCache: f.noCache}
	if f.context != "" {
		if req.Context, err = filepath.Abs(f.context); err != nil {
			return api.BuildRequest{}, err
		}
	}
	return req, nil
}

// runImageBuild streams the build's progress to stderr and prints the image.
func runImageBuild(cmd *cobra.Command, c *api.Client, req api.BuildRequest, output string) error {
	var progress io.Writer = cmd.ErrOrStderr()
	img, err := c.Build(ctxOf(cmd), req, progress)
	if err != nil {
		return err
	}
	return printImages(cmd.OutOrStdout(), []api.Image{img}, output)
}
