package cmdbsync

// A billing mapping: the billing rows written onto an existing table, in
// the CMDB mapping's format (see the package documentation, "Billing").

import (
	"fmt"
	"math"
	"os"
	"sort"
	"time"
)

// LoadBillingMapping reads and checks a billing mapping file.
func LoadBillingMapping(path string) (*Mapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("billing mapping: %w", err)
	}
	return parseMappingKind(b, path, true)
}

// ParseBillingMapping reads and checks a billing mapping (YAML): the CMDB
// mapping's format with the billing row's fields (BillingFieldNames), a
// key of two columns (key.column: the container id through key.format;
// key.period: the period's start) and no decommission. Every problem is
// reported at once in a *MappingError.
func ParseBillingMapping(b []byte) (*Mapping, error) { return parseMappingKind(b, "", true) }

// IsBilling reports whether m is a billing mapping.
func (m *Mapping) IsBilling() bool { return m.billing }

// BillingFieldNames lists the billing row's fields a column may take.
func BillingFieldNames() []string {
	out := []string{"container_id", "period_start", "period_end", "name", "vcpu_hours", "memory_gib_hours", "disk_gib_hours",
		"cpu_seconds", "net_bytes_in", "net_bytes_out", "late", "billed_at"}
	sort.Strings(out)
	return out
}

// The largest figures a row holds, for periods of up to a day (the check
// sizes number columns by them; a longer period's larger figure that does
// not fit stops billing with an error naming it, nothing written).
const (
	billMaxHours = 24
	billMaxBytes = math.MaxInt64
)

func (c *Column) lookup() (fieldDef, bool) {
	if c.billing {
		return lookupBillingField(c.Field)
	}
	return lookupField(c.Field)
}

// lookupBillingField is a billing row's field.
func lookupBillingField(name string) (fieldDef, bool) {
	num := func(max float64, what string, get func(r *BillingRow) float64) fieldDef {
		return fieldDef{vtype{k: kNum, max: max, digits: 6, what: what}, func(st *state) value { return vnum(get(st.bill), 6) }}
	}
	tm := func(what string, get func(st *state) time.Time) fieldDef {
		return fieldDef{vtype{k: kTime, what: what}, func(st *state) value { return vtime(get(st)) }}
	}
	switch name {
	case "container_id":
		return fieldDef{vtype{k: kString, maxLen: 36, what: "the container id (a UUID, 36 characters)"}, func(st *state) value { return vstr(st.bill.ContainerID) }}, true
	case "name":
		return fieldDef{vtype{k: kString, maxLen: 63, what: "the container name (up to 63 characters)"}, func(st *state) value { return vstr(st.bill.Name) }}, true
	case "period_start":
		return tm("the period's start", func(st *state) time.Time { return st.bill.PeriodStart }), true
	case "period_end":
		return tm("the period's end", func(st *state) time.Time { return st.bill.PeriodEnd }), true
	case "billed_at":
		return tm("the time it is written", func(st *state) time.Time { return st.billedAt }), true
	case "vcpu_hours":
		return num(maxCPUs*billMaxHours, "vCPU-hours (6 decimals)", func(r *BillingRow) float64 { return r.VCPUHours }), true
	case "memory_gib_hours":
		return num(maxMemoryMiB/1024*billMaxHours, "memory GiB-hours (6 decimals)", func(r *BillingRow) float64 { return r.MemoryGiBHours }), true
	case "disk_gib_hours":
		return num(maxDiskMiB/1024*billMaxHours, "disk GiB-hours (6 decimals)", func(r *BillingRow) float64 { return r.DiskGiBHours }), true
	case "cpu_seconds":
		return num(maxCPUs*billMaxHours*3600, "CPU seconds (6 decimals)", func(r *BillingRow) float64 { return r.CPUSeconds }), true
	case "net_bytes_in", "net_bytes_out":
		return fieldDef{vtype{k: kInt, max: billMaxBytes, what: "a byte count"}, func(st *state) value {
			n := st.bill.NetBytesIn
			if name == "net_bytes_out" {
				n = st.bill.NetBytesOut
			}
			return vint(int64(min(n, billMaxBytes)))
		}}, true
	case "late":
		return fieldDef{vtype{k: kInt, max: 1, words: []string{"0", "1"}, what: "the late flag (0 or 1)"}, func(st *state) value {
			if st.bill.Late {
				return vint(1)
			}
			return vint(0)
		}}, true
	}
	return fieldDef{}, false
}
