package cmdbsync

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fatbox/fatbox/inventory"
)

// state is what a container's row is a function of: its record (for a
// removed container, as it was), whether and when it was removed, and the
// time of its last event.
type state struct {
	id        string
	rec       inventory.Record
	removed   bool
	removedAt time.Time
	changedAt time.Time // the last event's time; the record's UpdatedAt if none is known
	seq       uint64    // the last event's seq (0: none known)

	// A billing row's (billing mappings): the row and when it is written.
	bill     *BillingRow
	billedAt time.Time
}

type vkind int

const (
	kNull vkind = iota
	kString
	kInt
	kNum
	kTime
)

// value is a column's value before it is cast to the column's type.
type value struct {
	k      vkind
	s      string
	i      int64
	f      float64
	digits int // kNum: decimals it was rounded to; -1: not rounded
	t      time.Time
}

func vstr(s string) value         { return value{k: kString, s: s} }
func vint(i int64) value          { return value{k: kInt, i: i} }
func vtime(t time.Time) value     { return value{k: kTime, t: t} }
func vnum(f float64, d int) value { return value{k: kNum, f: f, digits: d} }

const timeText = "2006-01-02 15:04:05"

// text is the value as a word: what a map looks up and a format wraps.
func (v value) text() string {
	switch v.k {
	case kString:
		return v.s
	case kInt:
		return strconv.FormatInt(v.i, 10)
	case kNum:
		return strconv.FormatFloat(v.f, 'f', v.digits, 64)
	case kTime:
		return v.t.UTC().Format(timeText)
	}
	return ""
}

func (v value) float() float64 {
	if v.k == kInt {
		return float64(v.i)
	}
	return v.f
}

// vtype is what a column's values can be, known from the mapping alone:
// the check compares it with the column's SQL type.
type vtype struct {
	k        vkind
	maxLen   int      // strings: most characters; -1: not known
	words    []string // strings: every value it takes; nil: not known
	max      float64  // numbers: the largest
	digits   int      // kNum: decimals; -1: any
	nullable bool     // may be NULL
	// soft: maxLen is a rule for free text (owner, labels), not a
	// format: a shorter column is a warning, and a longer value an error
	// when it comes.
	soft bool
	what string // for messages
}

// textLen is the most characters v's text has (-1: not known).
func (t vtype) textLen() int {
	switch t.k {
	case kString:
		if t.words != nil {
			n := 0
			for _, w := range t.words {
				n = max(n, utf8.RuneCountInString(w))
			}
			return n
		}
		return t.maxLen
	case kInt:
		return len(strconv.FormatInt(int64(t.max), 10))
	case kNum:
		if t.digits < 0 {
			return -1
		}
		n := len(strconv.FormatInt(int64(t.max), 10))
		if t.digits > 0 {
			n += 1 + t.digits
		}
		return n
	case kTime:
		return len(timeText)
	}
	return 0
}

type fieldDef struct {
	typ vtype
	get func(*state) value
}

// Largest sizes a record holds (engine/limits' ceilings, in the record's
// units) and longest texts (inventory's and ipam's rules).
const (
	maxCPUs      = 8192
	maxMemoryMiB = 64 << 20 // 64 TiB
	maxSwapMiB   = 64 << 20
	maxDiskMiB   = 16 << 20 // 16 TiB
	maxFieldLen  = 128      // owner, app, env (inventory.MaxFieldLen)
	maxLabelLen  = 255      // a label's value (inventory.MaxLabelValue)
)

func fieldNames() []string {
	return []string{"id", "name", "hostname", "ip", "mac", "node", "pool", "image", "image_id", "cpuset",
		"vcpus", "cpus", "memory_mib", "disk_mib", "swap_mib", "owner", "app", "env", "labels", "status",
		"created_at", "updated_at"}
}

// lookupField is the record field name (or label:<key>).
func lookupField(name string) (fieldDef, bool) {
	str := func(maxLen int, what string, get func(r *inventory.Record) string) fieldDef {
		return fieldDef{vtype{k: kString, maxLen: maxLen, what: what}, func(st *state) value { return vstr(get(&st.rec)) }}
	}
	num := func(max float64, what string, get func(r *inventory.Record) int64) fieldDef {
		return fieldDef{vtype{k: kInt, max: max, what: what}, func(st *state) value { return vint(get(&st.rec)) }}
	}
	soft := func(f fieldDef) fieldDef { f.typ.soft = true; return f }
	tm := func(what string, get func(r *inventory.Record) time.Time) fieldDef {
		return fieldDef{vtype{k: kTime, what: what}, func(st *state) value { return vtime(get(&st.rec)) }}
	}
	switch name {
	case "id":
		return fieldDef{vtype{k: kString, maxLen: 36, what: "the container id (a UUID, 36 characters)"}, func(st *state) value { return vstr(st.id) }}, true
	case "name":
		return str(63, "the container name (up to 63 characters)", func(r *inventory.Record) string { return r.Name }), true
	case "hostname":
		return str(63, "the hostname (up to 63 characters)", func(r *inventory.Record) string { return r.Hostname }), true
	case "ip":
		return str(15, "an IPv4 address (up to 15 characters)", func(r *inventory.Record) string { return r.IP }), true
	case "mac":
		return str(17, "a MAC address (17 characters)", func(r *inventory.Record) string { return r.MAC }), true
	case "node":
		return str(64, "the host's name (up to 64 characters)", func(r *inventory.Record) string { return r.Node }), true
	case "pool":
		return str(15, "a pool name (up to 15 characters)", func(r *inventory.Record) string { return r.Pool }), true
	case "image":
		return str(-1, "the image name", func(r *inventory.Record) string { return r.Image }), true
	case "image_id":
		return str(-1, "the image id", func(r *inventory.Record) string { return r.ImageID }), true
	case "cpuset":
		return str(-1, "the host CPUs it is pinned to", func(r *inventory.Record) string { return r.Cpuset }), true
	case "owner":
		return soft(str(maxFieldLen, "the owner (up to 128 characters)", func(r *inventory.Record) string { return r.Owner })), true
	case "app":
		return soft(str(maxFieldLen, "the app (up to 128 characters)", func(r *inventory.Record) string { return r.App })), true
	case "env":
		return soft(str(maxFieldLen, "the environment (up to 128 characters)", func(r *inventory.Record) string { return r.Env })), true
	case "labels":
		return fieldDef{vtype{k: kString, maxLen: -1, what: "the labels as a JSON object"}, func(st *state) value {
			if len(st.rec.Labels) == 0 {
				return vstr("")
			}
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(st.rec.Labels) // keys sorted
			return vstr(strings.TrimSuffix(b.String(), "\n"))
		}}, true
	case "status":
		return fieldDef{vtype{k: kString, maxLen: 7, words: []string{inventory.StatusRunning, inventory.StatusStopped, "removed"}, what: "the status (running, stopped, removed)"},
			func(st *state) value {
				// Only what an asset list shows: a change under way
				// (stopping, removing) shows the state it leaves until
				// its event, so the words are the three the check knows.
				switch {
				case st.removed:
					return vstr("removed")
				case st.rec.Status == inventory.StatusRunning, st.rec.Status == inventory.StatusStopping:
					return vstr(inventory.StatusRunning)
				}
				return vstr(inventory.StatusStopped)
			}}, true
	case "vcpus":
		return num(maxCPUs, "vCPUs", func(r *inventory.Record) int64 { return int64(r.VCPUs) }), true
	case "cpus":
		return fieldDef{vtype{k: kNum, max: maxCPUs, digits: -1, what: "CPUs (a fraction, e.g. 1.5)"}, func(st *state) value { return vnum(st.rec.CPUs, -1) }}, true
	case "memory_mib":
		return num(maxMemoryMiB, "memory in MiB", func(r *inventory.Record) int64 { return r.MemoryMiB }), true
	case "disk_mib":
		return num(maxDiskMiB, "disk in MiB", func(r *inventory.Record) int64 { return r.DiskMiB }), true
	case "swap_mib":
		return num(maxSwapMiB, "swap in MiB", func(r *inventory.Record) int64 { return r.SwapMiB }), true
	case "created_at":
		return tm("the creation time", func(r *inventory.Record) time.Time { return r.CreatedAt }), true
	case "updated_at":
		return tm("the record's last write", func(r *inventory.Record) time.Time { return r.UpdatedAt }), true
	}
	if key, ok := strings.CutPrefix(name, "label:"); ok && key != "" {
		return soft(str(maxLabelLen, "label "+key+" (up to 255 characters)", func(r *inventory.Record) string { return r.Labels[key] })), true
	}
	return fieldDef{}, false
}

// source is the column's value before transforms, and its type.
func (c *Column) source() (vtype, func(*state) value) {
	switch {
	case c.Field != "":
		f, _ := c.lookup()
		return f.typ, f.get
	case c.Time == TimeCreated:
		return vtype{k: kTime, what: "the creation time"}, func(st *state) value { return vtime(st.rec.CreatedAt) }
	case c.Time == TimeChanged:
		return vtype{k: kTime, what: "the last change's time"}, func(st *state) value { return vtime(st.changedAt) }
	case c.Time == TimeRemoved:
		return vtype{k: kTime, nullable: true, what: "the removal time (NULL while the container exists)"}, func(st *state) value {
			if !st.removed {
				return value{}
			}
			return vtime(st.removedAt)
		}
	}
	var v value
	var t vtype
	switch x := c.Const.(type) {
	case nil:
		t = vtype{k: kString, nullable: true}
	case string:
		v, t = vstr(x), vtype{k: kString, words: []string{x}}
	case int64:
		v, t = vint(x), vtype{k: kInt, max: math.Abs(float64(x))}
	case float64:
		d := -1
		if s := strconv.FormatFloat(x, 'f', -1, 64); strings.Contains(s, ".") {
			d = len(s) - strings.IndexByte(s, '.') - 1
		} else {
			d = 0
		}
		v, t = vnum(x, d), vtype{k: kNum, max: math.Abs(x), digits: d}
	case bool:
		n := int64(0)
		if x {
			n = 1
		}
		v, t = vint(n), vtype{k: kInt, max: 1}
	default:
		v, t = vstr(fmt.Sprint(x)), vtype{k: kString, words: []string{fmt.Sprint(x)}}
	}
	t.what = fmt.Sprintf("the constant %v", c.Const)
	return t, func(*state) value { return v }
}

// staticType is the type of the column's values after its transforms, or
// what is wrong with the transforms. live: only the values of containers
// that exist (the decommission column's other values come from
// Decommission.Value).
func (c *Column) staticType(live ...bool) (vtype, string) {
	t, _ := c.source()
	if len(live) > 0 && live[0] && c.Field == "status" {
		t.words = []string{inventory.StatusRunning, inventory.StatusStopped}
	}
	if c.Multiply != 0 || c.Divide != 0 {
		if t.k != kInt && t.k != kNum {
			return t, "multiply/divide need a number: " + t.what + " is not one"
		}
		m := t.max
		if c.Multiply != 0 {
			m *= c.Multiply
		}
		if c.Divide != 0 {
			m /= c.Divide
		}
		t = vtype{k: kNum, max: m, digits: -1, nullable: t.nullable, what: t.what + " converted"}
	}
	if c.Round != nil {
		if t.k != kInt && t.k != kNum {
			return t, "round needs a number: " + t.what + " is not one"
		}
		t = vtype{k: kNum, max: math.Round(t.max), digits: *c.Round, nullable: t.nullable, what: fmt.Sprintf("%s rounded to %d decimal(s)", t.what, *c.Round)}
	}
	if c.Map != nil {
		nt := vtype{k: kString, nullable: t.nullable, soft: t.soft, what: t.what + " through the map"}
		var words []string
		switch {
		case t.words != nil:
			for _, w := range t.words {
				if r, ok := c.Map[w]; ok {
					words = append(words, r)
				} else if c.Default != nil {
					words = append(words, *c.Default)
				} else {
					words = append(words, w)
				}
			}
		case c.Default != nil:
			for _, r := range c.Map {
				words = append(words, r)
			}
			words = append(words, *c.Default)
		}
		if words != nil {
			slices.Sort(words)
			nt.words = slices.Compact(words)
		} else {
			nt.maxLen = -1
			if l := t.textLen(); l >= 0 {
				for _, r := range c.Map {
					l = max(l, utf8.RuneCountInString(r))
				}
				nt.maxLen = l
			}
			if t.k == kInt || (t.k == kNum && t.digits == 0) {
				// unmapped numbers pass through: still numbers
				nt.words = nil
			}
		}
		t = nt
	}
	if c.Format != "" {
		pre, suf, _ := splitFormat(c.Format)
		nt := vtype{k: kString, maxLen: -1, nullable: t.nullable, soft: t.soft, what: fmt.Sprintf("%s through format %q", t.what, c.Format)}
		if l := t.textLen(); l >= 0 {
			nt.maxLen = l + utf8.RuneCountInString(pre) + utf8.RuneCountInString(suf)
		}
		if t.k == kString && t.words != nil {
			for _, w := range t.words {
				nt.words = append(nt.words, pre+w+suf)
			}
		}
		t = nt
	}
	return t, ""
}

// eval is the column's value for a container.
func (c *Column) eval(st *state) value {
	get, pre, suf := c.get, c.fpre, c.fsuf
	if get == nil { // a Mapping not made by ParseMapping
		_, get = c.source()
		pre, suf, _ = splitFormat(c.Format)
	}
	v := get(st)
	if v.k == kNull {
		return v
	}
	if c.Multiply != 0 || c.Divide != 0 {
		f := v.float()
		if c.Multiply != 0 {
			f *= c.Multiply
		}
		if c.Divide != 0 {
			f /= c.Divide
		}
		v = vnum(f, -1)
	}
	if c.Round != nil {
		v = vnum(roundTo(v.float(), *c.Round), *c.Round)
	}
	if c.Map != nil {
		if r, ok := c.Map[v.text()]; ok {
			v = vstr(r)
		} else if c.Default != nil {
			v = vstr(*c.Default)
		}
	}
	if c.Format != "" {
		v = vstr(pre + v.text() + suf)
	}
	return v
}

// roundTo rounds half away from zero to d decimals.
func roundTo(f float64, d int) float64 {
	p := math.Pow10(d)
	r := math.Round(f*p) / p
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return f
	}
	return r
}

// cell is a value cast to its column: what is sent (arg) and its text as
// the column gives it back.
type cell struct {
	null bool
	arg  any
	text string
}

func (c cell) ptr() *string {
	if c.null {
		return nil
	}
	s := c.text
	return &s
}

var nullCell = cell{null: true}

// castError is a value that does not fit its column at write time.
type castError struct{ msg string }

func (e *castError) Error() string { return e.msg }

// cast turns v into a cell of column ci: "" becomes NULL where the column
// allows it; a value the column cannot hold is an error.
func (ci *colInfo) cast(v value) (cell, error) {
	if v.k == kNull {
		if !ci.Nullable {
			return cell{}, &castError{fmt.Sprintf("NULL into NOT NULL column %s", ci.Name)}
		}
		return nullCell, nil
	}
	bad := func(why string) (cell, error) {
		return cell{}, &castError{fmt.Sprintf("value %q does not fit column %s %s: %s", v.text(), ci.Name, ci.ColumnType, why)}
	}
	switch ci.class {
	case cInt:
		var n int64
		switch v.k {
		case kInt:
			n = v.i
		case kNum:
			if v.f != math.Trunc(v.f) {
				return bad("it has decimals")
			}
			n = int64(v.f)
		case kString:
			x, err := strconv.ParseInt(strings.TrimSpace(v.s), 10, 64)
			if err != nil {
				return bad("not a whole number")
			}
			n = x
		default:
			return bad("not a number")
		}
		if lo, hi := ci.intRange(); float64(n) < lo || float64(n) > hi {
			return bad(fmt.Sprintf("out of its range %.0f..%.0f", lo, hi))
		}
		return cell{arg: n, text: strconv.FormatInt(n, 10)}, nil
	case cDecimal, cFloat:
		var f float64
		switch v.k {
		case kInt, kNum:
			f = v.float()
		case kString:
			x, err := strconv.ParseFloat(strings.TrimSpace(v.s), 64)
			if err != nil {
				return bad("not a number")
			}
			f = x
		default:
			return bad("not a number")
		}
		if ci.class == cFloat {
			return cell{arg: f, text: strconv.FormatFloat(f, 'f', -1, 64)}, nil
		}
		s := strconv.FormatFloat(f, 'f', int(ci.Scale), 64)
		intDigits := len(strings.TrimLeft(strings.SplitN(strings.TrimPrefix(s, "-"), ".", 2)[0], "0"))
		if int64(intDigits) > ci.Precision-ci.Scale {
			return bad(fmt.Sprintf("more than %d digits before the point", ci.Precision-ci.Scale))
		}
		return cell{arg: s, text: s}, nil
	case cTime, cDate:
		if v.k != kTime {
			return bad("not a time")
		}
		s := formatTime(v.t, ci)
		return cell{arg: s, text: s}, nil
	case cString, cEnum:
		s := v.text()
		if s == "" && ci.Nullable {
			return nullCell, nil
		}
		if ci.class == cEnum {
			if !slices.Contains(ci.Enum, s) {
				return bad("not one of its words")
			}
		} else if ci.MaxLen > 0 && int64(utf8.RuneCountInString(s)) > ci.MaxLen {
			return bad(fmt.Sprintf("%d characters, the column holds %d", utf8.RuneCountInString(s), ci.MaxLen))
		}
		return cell{arg: s, text: s}, nil
	}
	return bad("the column's type is not one the sync writes")
}

// formatTime writes t (UTC) as the column keeps it: a DATE's day, or a
// DATETIME/TIMESTAMP truncated to its fractional digits.
func formatTime(t time.Time, ci *colInfo) string {
	t = t.UTC()
	if ci.class == cDate {
		return t.Format("2006-01-02")
	}
	if ci.FSP <= 0 {
		return t.Format(timeText)
	}
	s := t.Format("2006-01-02 15:04:05.000000000") // truncated, never rounded
	return s[:len(timeText)+1+int(min(ci.FSP, 9))]
}

// readCell is a value read back from column ci.
func (ci *colInfo) readCell(raw any) cell {
	switch x := raw.(type) {
	case nil:
		return nullCell
	case []byte:
		return cell{text: string(x)}
	case string:
		return cell{text: x}
	case int64:
		return cell{text: strconv.FormatInt(x, 10)}
	case uint64:
		return cell{text: strconv.FormatUint(x, 10)}
	case float64:
		return cell{text: strconv.FormatFloat(x, 'f', -1, 64)}
	case float32:
		return cell{text: strconv.FormatFloat(float64(x), 'f', -1, 32)}
	case time.Time:
		return cell{text: formatTime(x, ci)}
	}
	return cell{text: fmt.Sprint(raw)}
}

// same reports whether the row's cell got already holds want.
func (ci *colInfo) same(want, got cell) bool {
	if want.null || got.null {
		return want.null == got.null
	}
	if want.text == got.text {
		return true
	}
	switch ci.class {
	case cFloat:
		a, err1 := strconv.ParseFloat(want.text, 64)
		b, err2 := strconv.ParseFloat(got.text, 64)
		if err1 != nil || err2 != nil {
			return want.text == got.text
		}
		return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(a))
	case cDecimal, cInt:
		a, ok1 := new(big.Rat).SetString(want.text)
		b, ok2 := new(big.Rat).SetString(got.text)
		if !ok1 || !ok2 {
			return want.text == got.text
		}
		return a.Cmp(b) == 0
	case cTime:
		const layout = "2006-01-02 15:04:05.999999999"
		a, err1 := time.Parse(layout, want.text)
		b, err2 := time.Parse(layout, got.text)
		if err1 != nil || err2 != nil {
			return want.text == got.text
		}
		return a.Equal(b)
	}
	return want.text == got.text
}
