package units

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestExecAgainstSystemd replays testdata/exec.golden: the argv systemd
// 252 itself would exec for each ExecStart= line of testdata/exec.cases
// (recorded by testdata/gen-exec.py from `systemd --test`), in an instance
// e<N>@a-b\x2dc.service so specifiers are covered. Where systemd drops the
// line, parsing must fail.
func TestExecAgainstSystemd(t *testing.T) {
	f, err := os.Open("testdata/exec.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		line, want := cols[0], cols[1]
		spec := specifierContext{name: fmt.Sprintf(`e%d@a-b\x2dc.service`, n), shell: "/bin/bash"}
		n++
		as, err := lexUnit("e.service", strings.NewReader("[Service]\nExecStart="+line+"\n"))
		if err != nil || len(as) != 1 {
			t.Fatalf("%s: lex: %v %v", line, as, err)
		}
		cmds, err := parseExec(as[0].value, spec.resolve)
		if want == "ERROR" {
			if err == nil {
				t.Errorf("%s: systemd drops it (%s), parsed as %+v", line, cols[2], cmds)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", line, err)
			continue
		}
		var wantArgv [][]string
		if err := json.Unmarshal([]byte(want), &wantArgv); err != nil {
			t.Fatal(err)
		}
		var got [][]string
		for _, c := range cmds {
			argv := c.Argv
			if c.Argv0 != "" {
				argv = append([]string{c.Argv0}, c.Argv[1:]...)
			}
			got = append(got, argv)
		}
		if !reflect.DeepEqual(got, wantArgv) {
			t.Errorf("%s:\n got  %q\n want %q", line, got, wantArgv)
		}
	}
	if n < 30 {
		t.Fatalf("only %d cases", n)
	}
}
