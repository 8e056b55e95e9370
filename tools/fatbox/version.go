package main

import (
	"io"
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "print fatbox's version",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runVersion(cmd.OutOrStdout(), output) },
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func runVersion(w io.Writer, output string) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	v := struct {
		Version string `json:"version"`
		Go      string `json:"go"`
		OS      string `json:"os"`
		Arch    string `json:"arch"`
	}{version, runtime.Version(), runtime.GOOS, runtime.GOARCH}
	return printDone(w, output, v, "fatbox %s (%s, %s/%s)\n", v.Version, v.Go, v.OS, v.Arch)
}
