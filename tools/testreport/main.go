// Command testreport reads `go test -json` on stdin and prints what a person
// needs: each package's summary line ("ok ...", "FAIL ..."), the full output
// of failed tests, and a tally. It exits non-zero if any test or package
// failed, or — with FATBOX_STRICT=1 or CI=true — if any test was skipped,
// because a skipped tier must never count as passed. A test that ended with
// harness.NotRun (its path cannot run on this host: a kernel feature is
// missing) is counted apart, printed in its own "not run on this host"
// list with its reason, and fails neither mode.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	os.Exit(run(os.Stdin, os.Stdout, os.Getenv("FATBOX_STRICT") == "1" || os.Getenv("CI") == "true"))
}

func run(in io.Reader, out io.Writer, strict bool) int {
	outputs := map[string][]string{} // package/test -> output lines
	var passed, failed, skipped, notRun []string
	pkgFailed := 0
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			fmt.Fprintln(out, string(line)) // build errors and the like
			continue
		}
		id := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			if e.Test == "" {
				if strings.HasPrefix(e.Output, "ok ") || strings.HasPrefix(e.Output, "FAIL") || strings.HasPrefix(e.Output, "?") || strings.HasPrefix(e.Output, "panic") {
					fmt.Fprint(out, e.Output)
				} else {
					outputs[id] = append(outputs[id], e.Output)
				}
			} else {
				outputs[id] = append(outputs[id], e.Output)
			}
		case "build-output":
			fmt.Fprint(out, e.Output)
		case "pass":
			if e.Test != "" {
				passed = append(passed, id)
			}
			delete(outputs, id)
		case "skip":
			if why := notRunReason(outputs[id]); e.Test != "" && why != "" {
				notRun = append(notRun, e.Package+" "+e.Test+": "+why)
			} else if e.Test != "" {
				skipped = append(skipped, id)
				fmt.Fprintf(out, "SKIP %s %s\n", e.Package, e.Test)
				for _, l := range outputs[id] {
					if strings.Contains(l, "missing prerequisite") || strings.Contains(l, "Skip") {
						fmt.Fprint(out, "    ", strings.TrimSpace(l), "\n")
					}
				}
			}
			delete(outputs, id)
		case "fail":
			if e.Test != "" {
				failed = append(failed, id)
				fmt.Fprintf(out, "--- FAIL %s %s\n", e.Package, e.Test)
				for _, l := range outputs[id] {
					fmt.Fprint(out, "    ", l)
				}
			} else {
				pkgFailed++
				for _, l := range outputs[id] {
					fmt.Fprint(out, "    ", l)
				}
			}
			delete(outputs, id)
		}
	}
	sort.Strings(skipped)
	sort.Strings(notRun)
	if len(notRun) > 0 {
		fmt.Fprintf(out, "\nnot run on this host (a kernel limit; neither passed nor failed):\n")
		for _, n := range notRun {
			fmt.Fprintf(out, "  NOT RUN %s\n", n)
		}
	}
	fmt.Fprintf(out, "\ntests: %d passed, %d failed, %d skipped, %d not run on this host; packages failed: %d\n", len(passed), len(failed), len(skipped), len(notRun), pkgFailed)
	if len(failed) > 0 || pkgFailed > 0 {
		return 1
	}
	if strict && len(skipped) > 0 {
		fmt.Fprintf(out, "strict mode: %d skipped tests count as failures: %s\n", len(skipped), strings.Join(skipped, ", "))
		return 1
	}
	return 0
}

// notRunMarker is harness.NotRunMarker (testreport imports nothing of fatbox).
const notRunMarker = "FATBOX-NOT-RUN:"

// notRunReason is the reason a test logged with harness.NotRun, or "".
func notRunReason(lines []string) string {
	for _, l := range lines {
		if i := strings.Index(l, notRunMarker); i >= 0 {
			return strings.TrimSpace(l[i+len(notRunMarker):])
		}
	}
	return ""
}
