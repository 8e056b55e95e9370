package main

import "github.com/spf13/cobra"

// STUB (issue 16): replaced by the volume work.
func newVolumeCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "volume", Hidden: true, RunE: func(*cobra.Command, []string) error { return nil }}
}
