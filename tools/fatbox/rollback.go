package main

import "github.com/spf13/cobra"

// STUB (issue 16): replaced by the rollback work.
func newRollbackCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "rollback", Hidden: true, RunE: func(*cobra.Command, []string) error { return nil }}
}
