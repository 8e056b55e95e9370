package main

import "github.com/spf13/cobra"

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "the SSH gateway's audit log and session recordings (ls, show, play)",
		Long: "Every login through the gateway, each refusal, session, command, file moved over sftp/scp and port forward " +
			"is a line of the audit log; interactive sessions are recorded (asciicast v2, compressed, capped). " +
			"`fatbox audit ls` lists lines, `fatbox audit show SESSION` one session's, `fatbox audit play SESSION` replays its recording."}
	cmd.AddCommand(newAuditLsCmd(g), newAuditShowCmd(g), newAuditPlayCmd(g))
	return cmd
}
