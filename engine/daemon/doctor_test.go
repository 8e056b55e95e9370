package daemon

import (
	"testing"

	"github.com/fatbox/fatbox/engine"
)

func TestToDoctorReport(t *testing.T) {
	in := filled[engine.DoctorReport]()
	for i := range in.Checks {
		in.Checks[i].OK = true
	}
	out := toDoctorReport(in)
	noZero(t, "api.DoctorReport", out) // OK too: every check passed
	sameSet(t, "engine.DoctorReport -> api.DoctorReport", sameFields(t, "toDoctorReport", in, out))
	in.Checks[0].OK = false
	if out := toDoctorReport(in); out.OK || out.Checks[0].OK {
		t.Error("a report with a failed check is not OK")
	}
	if out := toDoctorReport(engine.DoctorReport{}); out.Checks == nil {
		t.Error("no checks must be [] in JSON, not null")
	}
}
