package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// checkOutput validates -o.
func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return fmt.Errorf("unknown output format %q: use -o table or -o json", o)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }
