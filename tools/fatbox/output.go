package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// checkOutput validates -o.
func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return fmt.Errorf("unknown output format %q: use -o table or -o json", o)
	}
	return nil
}

// addOutputFlag gives a command that prints the -o table|json flag.
func addOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "table", "output format: table or json")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// writeJSONLine writes v as one line of JSON (a stream of them).
func writeJSONLine(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
