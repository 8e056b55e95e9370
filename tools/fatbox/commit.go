package main

import "github.com/spf13/cobra"

// STUB (issue 16): replaced by the commit work.
func newCommitCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "commit", Hidden: true, RunE: func(*cobra.Command, []string) error { return nil }}
}
