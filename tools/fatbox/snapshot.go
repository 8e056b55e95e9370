package main

import "github.com/spf13/cobra"

// STUB (issue 16): replaced by the snapshot work.
func newSnapshotCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "snapshot", Hidden: true, RunE: func(*cobra.Command, []string) error { return nil }}
}
