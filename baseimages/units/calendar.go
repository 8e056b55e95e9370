package units

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Calendar is a systemd.time(7) calendar event ("OnCalendar=").
// The zero Calendar matches every second.
type Calendar struct {
	weekdays uint8 // bit 0 = Monday … bit 6 = Sunday; 0 = any
	year     []calItem
	month    []calItem
	day      []calItem
	hour     []calItem
	minute   []calItem
	second   []calItem
	// endOfMonth: the day component counts from the end of the month ("~").
	endOfMonth bool
	loc        *time.Location // nil: the location of the time passed to Next
	zone       string         // the time zone as written ("UTC", "Europe/Berlin")
}

// calItem is one element of a component list: start, start..stop, start/rep
// or start..stop/rep. stop is -1 when absent.
type calItem struct{ start, stop, rep int }

// component bounds.
const (
	minYear = 1970
	maxYear = 2199
)

func calendarShorthand(s string) string {
	switch s {
	case "minutely":
		return "*-*-* *:*:00"
	case "hourly":
		return "*-*-* *:00:00"
	case "daily":
		return "*-*-* 00:00:00"
	case "monthly":
		return "*-*-01 00:00:00"
	case "weekly":
		return "Mon *-*-* 00:00:00"
	case "yearly", "annually":
		return "*-01-01 00:00:00"
	case "quarterly":
		return "*-01,04,07,10-01 00:00:00"
	case "semiannually":
		return "*-01,07-01 00:00:00"
	}
	return ""
}

// ParseCalendar parses a calendar event: the shorthands minutely, hourly,
// daily, weekly, monthly, yearly/annually, quarterly and semiannually, or
// "[WEEKDAYS] [[YYYY-]MM-DD] [HH:MM[:SS]] [TIMEZONE]" where each number
// component is "*" or a comma list of values, "a..b" ranges and "x/step"
// repetitions, "~" before the day counts from the end of the month, and
// "@EPOCH" is one instant. Times are in the location of the time passed to
// Next (the container's local time) unless a time zone ("UTC",
// "Europe/Berlin") ends the expression. Fractional seconds are refused.
func ParseCalendar(s string) (Calendar, error) {
	orig := s
	s = strings.TrimSpace(s)
	var c Calendar
	fail := func(why string, args ...any) (Calendar, error) {
		return Calendar{}, fmt.Errorf("calendar %q: %s (see systemd.time(7); check it with systemd-analyze calendar)", orig, fmt.Sprintf(why, args...))
	}
	if strings.HasPrefix(s, "@") {
		n, err := strconv.ParseInt(strings.TrimSpace(s[1:]), 10, 64)
		if err != nil {
			return fail("%q is not @SECONDS since the epoch", s)
		}
		t := time.Unix(n, 0).UTC()
		one := func(v int) []calItem { return []calItem{{v, -1, 0}} }
		return Calendar{year: one(t.Year()), month: one(int(t.Month())), day: one(t.Day()), hour: one(t.Hour()),
			minute: one(t.Minute()), second: one(t.Second()), loc: time.UTC, zone: "UTC"}, nil
	}
	toks := strings.Fields(s)
	if len(toks) == 0 {
		return fail("empty")
	}
	if len(toks) == 1 {
		if sh := calendarShorthand(strings.ToLower(toks[0])); sh != "" {
			toks = strings.Fields(sh)
		}
	}
	// A trailing time zone.
	if len(toks) > 1 {
		last := toks[len(toks)-1]
		if isLetter(last[0]) && !isWeekdaySpec(last) {
			loc, err := time.LoadLocation(last)
			if err != nil {
				return fail("unknown time zone %q", last)
			}
			c.loc, c.zone = loc, last
			if strings.EqualFold(last, "UTC") {
				c.loc, c.zone = time.UTC, "UTC"
			}
			toks = toks[:len(toks)-1]
		}
	}
	if isLetter(toks[0][0]) {
		w, err := parseWeekdays(toks[0])
		if err != nil {
			return fail("%v", err)
		}
		c.weekdays = w
		toks = toks[1:]
	}
	var dateTok, timeTok string
	for _, t := range toks {
		switch {
		case strings.Contains(t, ":") && timeTok == "":
			timeTok = t
		case !strings.Contains(t, ":") && dateTok == "" && timeTok == "":
			dateTok = t
		default:
			return fail("unexpected %q", t)
		}
	}
	if dateTok != "" {
		if err := c.parseDate(dateTok); err != nil {
			return fail("%v", err)
		}
	}
	c.hour, c.minute, c.second = []calItem{{0, -1, 0}}, []calItem{{0, -1, 0}}, []calItem{{0, -1, 0}}
	if timeTok != "" {
		parts := strings.Split(timeTok, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return fail("time %q is not HH:MM[:SS]", timeTok)
		}
		var err error
		if c.hour, err = parseComponent(parts[0], 0, 23, false); err != nil {
			return fail("hour: %v", err)
		}
		if c.minute, err = parseComponent(parts[1], 0, 59, false); err != nil {
			return fail("minute: %v", err)
		}
		if len(parts) == 3 {
			if strings.Contains(parts[2], ".") {
				return Calendar{}, &UnsupportedError{Directive: "OnCalendar", Value: orig,
					Why: "fractional seconds are not supported; use whole seconds"}
			}
			if c.second, err = parseComponent(parts[2], 0, 59, false); err != nil {
				return fail("second: %v", err)
			}
		}
	}
	if c.weekdays == 0x7f {
		c.weekdays = 0
	}
	return c, nil
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

func isWeekdaySpec(s string) bool {
	_, err := parseWeekdays(s)
	return err == nil
}

func weekdayIndex(s string) (int, bool) {
	names := [...]string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
	l := strings.ToLower(s)
	for i, n := range names {
		if l == n || l == n[:3] {
			return i, true
		}
	}
	return 0, false
}

// parseWeekdays parses "Mon", "Mon,Wed", "Mon..Fri", "Mon-Fri" into a bitmask.
func parseWeekdays(s string) (uint8, error) {
	var mask uint8
	for _, item := range strings.Split(s, ",") {
		a, b, rng := strings.Cut(item, "..")
		if !rng {
			a, b, rng = strings.Cut(item, "-")
		}
		i, ok := weekdayIndex(a)
		if !ok {
			return 0, fmt.Errorf("%q is not a weekday (Mon..Sun)", a)
		}
		j := i
		if rng {
			if j, ok = weekdayIndex(b); !ok {
				return 0, fmt.Errorf("%q is not a weekday (Mon..Sun)", b)
			}
			if j < i {
				return 0, fmt.Errorf("weekday range %q runs backwards (weeks start on Monday)", item)
			}
		}
		for k := i; k <= j; k++ {
			mask |= 1 << k
		}
	}
	return mask, nil
}

func (c *Calendar) parseDate(s string) error {
	var parts []string
	var seps []byte
	cur := strings.Builder{}
	for i := 0; i < len(s); i++ {
		if s[i] == '-' || s[i] == '~' {
			parts = append(parts, cur.String())
			seps = append(seps, s[i])
			cur.Reset()
			continue
		}
		cur.WriteByte(s[i])
	}
	parts = append(parts, cur.String())
	var err error
	switch len(parts) {
	case 2:
		parts = append([]string{"*"}, parts...)
		seps = append([]byte{'-'}, seps...)
	case 3:
	default:
		return fmt.Errorf("date %q is not [YYYY-]MM-DD", s)
	}
	if seps[0] != '-' {
		return fmt.Errorf("date %q: ~ goes between month and day", s)
	}
	c.endOfMonth = seps[1] == '~'
	if c.year, err = parseComponent(parts[0], minYear, maxYear, true); err != nil {
		return fmt.Errorf("year: %w", err)
	}
	if c.month, err = parseComponent(parts[1], 1, 12, false); err != nil {
		return fmt.Errorf("month: %w", err)
	}
	if c.day, err = parseComponent(parts[2], 1, 31, false); err != nil {
		return fmt.Errorf("day: %w", err)
	}
	if c.endOfMonth {
		for _, it := range c.day {
			if it.stop >= 0 {
				return &UnsupportedError{Directive: "OnCalendar", Value: s, Why: "ranges with ~ (days from the end of the month) are not supported; list the days (e.g. *-*~01,02)"}
			}
		}
	}
	return nil
}

// parseComponent parses "*", or a comma list of "v", "a..b", "v/r", "a..b/r", "*/r".
func parseComponent(s string, lo, hi int, year bool) ([]calItem, error) {
	if s == "*" {
		return nil, nil
	}
	num := func(t string) (int, error) {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a number", t)
		}
		if year && len(t) <= 2 {
			if n < 70 {
				n += 2000
			} else {
				n += 1900
			}
		}
		if n < lo || n > hi {
			return 0, fmt.Errorf("%d is out of range %d..%d", n, lo, hi)
		}
		return n, nil
	}
	var out []calItem
	for _, item := range strings.Split(s, ",") {
		body, repS, hasRep := strings.Cut(item, "/")
		it := calItem{stop: -1}
		a, b, rng := strings.Cut(body, "..")
		var err error
		if a == "*" && hasRep && !rng {
			it.start = lo
		} else if it.start, err = num(a); err != nil {
			return nil, err
		}
		if rng {
			if it.stop, err = num(b); err != nil {
				return nil, err
			}
			if it.stop < it.start {
				return nil, fmt.Errorf("range %q runs backwards", body)
			}
		}
		if hasRep {
			r, err := strconv.Atoi(repS)
			if err != nil || r <= 0 {
				return nil, fmt.Errorf("repetition %q must be a positive number", repS)
			}
			it.rep = r
			if it.stop >= 0 {
				it.stop = it.start + (it.stop-it.start)/r*r
				if it.stop == it.start {
					it.stop, it.rep = -1, 0
				}
			}
		}
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.start != b.start {
			return a.start < b.start
		}
		if a.stop != b.stop {
			return a.stop < b.stop
		}
		return a.rep < b.rep
	})
	dedup := out[:0]
	for i, it := range out {
		if i == 0 || it != out[i-1] {
			dedup = append(dedup, it)
		}
	}
	return dedup, nil
}

// nextValue returns the smallest value >= v in [v, hi] the items allow.
func nextValue(items []calItem, v, hi int) (int, bool) {
	if v > hi {
		return 0, false
	}
	if items == nil {
		return v, true
	}
	best := -1
	for _, it := range items {
		cand := -1
		switch {
		case it.rep == 0 && it.stop < 0:
			if it.start >= v {
				cand = it.start
			}
		case it.rep == 0:
			if v <= it.stop {
				cand = max(v, it.start)
			}
		default:
			end := hi
			if it.stop >= 0 {
				end = it.stop
			}
			c := it.start
			if v > it.start {
				c = it.start + (v-it.start+it.rep-1)/it.rep*it.rep
			}
			if c <= end {
				cand = c
			}
		}
		if cand >= 0 && cand <= hi && (best < 0 || cand < best) {
			best = cand
		}
	}
	return best, best >= 0
}

// dayMatches checks a day of a month with dim days against the day component.
func (c Calendar) dayMatches(d, dim int) bool {
	if !c.endOfMonth {
		v, ok := nextValue(c.day, d, dim)
		return ok && v == d
	}
	r := dim - d + 1 // 1 = the last day
	for _, it := range c.day {
		switch {
		case it.rep == 0 && r == it.start:
			return true
		case it.rep > 0 && r <= it.start && (it.start-r)%it.rep == 0:
			return true
		}
	}
	return c.day == nil
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// Next returns the first elapse strictly after after, in the calendar's time
// zone if it names one, else in after's location; the zero time if it never
// elapses again.
func (c Calendar) Next(after time.Time) time.Time {
	loc := c.loc
	if loc == nil {
		loc = after.Location()
	}
	t := after.In(loc)
	t = t.Add(-time.Duration(t.Nanosecond())).Add(time.Second)
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	m := int(mo)
	for iter := 0; iter < 1_000_000; iter++ {
		ny, ok := nextValue(c.year, max(y, minYear), maxYear)
		if !ok {
			return time.Time{}
		}
		if ny != y {
			y, m, d, h, mi, s = ny, 1, 1, 0, 0, 0
		}
		nm, ok := nextValue(c.month, m, 12)
		if !ok {
			y, m, d, h, mi, s = y+1, 1, 1, 0, 0, 0
			continue
		}
		if nm != m {
			m, d, h, mi, s = nm, 1, 0, 0, 0
		}
		dim := daysIn(y, time.Month(m))
		nd := -1
		for dd := d; dd <= dim; dd++ {
			if c.dayMatches(dd, dim) && c.weekdayMatches(y, m, dd) {
				nd = dd
				break
			}
		}
		if nd < 0 {
			m, d, h, mi, s = m+1, 1, 0, 0, 0
			if m > 12 {
				y, m = y+1, 1
			}
			continue
		}
		if nd != d {
			d, h, mi, s = nd, 0, 0, 0
		}
		nh, ok := nextValue(c.hour, h, 23)
		if !ok {
			d, h, mi, s = d+1, 0, 0, 0
			continue
		}
		if nh != h {
			h, mi, s = nh, 0, 0
		}
		nmi, ok := nextValue(c.minute, mi, 59)
		if !ok {
			h, mi, s = h+1, 0, 0
			continue
		}
		if nmi != mi {
			mi, s = nmi, 0
		}
		ns, ok := nextValue(c.second, s, 59)
		if !ok {
			mi, s = mi+1, 0
			continue
		}
		s = ns
		tt := time.Date(y, time.Month(m), d, h, mi, s, 0, loc)
		wall := func(t time.Time) bool {
			ty, tmo, td := t.Date()
			return ty == y && int(tmo) == m && td == d && t.Hour() == h && t.Minute() == mi && t.Second() == s
		}
		if !wall(tt) || !tt.After(after) {
			s++ // a local time skipped by a DST change: look further
			continue
		}
		// A local time that occurs twice (DST ends): take the first
		// occurrence after `after`, as systemd does.
		for _, back := range []time.Duration{time.Hour, 30 * time.Minute, 2 * time.Hour} {
			if e := tt.Add(-back); wall(e) && e.After(after) {
				tt = e
				break
			}
		}
		return tt
	}
	return time.Time{}
}

func (c Calendar) weekdayMatches(y, m, d int) bool {
	if c.weekdays == 0 {
		return true
	}
	wd := (int(time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Weekday()) + 6) % 7 // Monday = 0
	return c.weekdays&(1<<wd) != 0
}

// String is the normalized form systemd-analyze calendar prints, e.g.
// "*-*-* 00:00:00" for daily and "Mon..Fri *-*-* 06,18:00:00".
func (c Calendar) String() string {
	var b strings.Builder
	if c.weekdays != 0 {
		b.WriteString(formatWeekdays(c.weekdays))
		b.WriteByte(' ')
	}
	b.WriteString(formatComponent(c.year, "%04d"))
	b.WriteByte('-')
	b.WriteString(formatComponent(c.month, "%02d"))
	if c.endOfMonth {
		b.WriteByte('~')
	} else {
		b.WriteByte('-')
	}
	b.WriteString(formatComponent(c.day, "%02d"))
	b.WriteByte(' ')
	b.WriteString(formatComponent(c.hour, "%02d"))
	b.WriteByte(':')
	b.WriteString(formatComponent(c.minute, "%02d"))
	b.WriteByte(':')
	b.WriteString(formatComponent(c.second, "%02d"))
	if c.zone != "" {
		b.WriteByte(' ')
		b.WriteString(c.zone)
	}
	return b.String()
}

func formatWeekdays(mask uint8) string {
	names := [...]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	var out []string
	for i := 0; i < 7; {
		if mask&(1<<i) == 0 {
			i++
			continue
		}
		j := i
		for j+1 < 7 && mask&(1<<(j+1)) != 0 {
			j++
		}
		if j-i >= 2 {
			out = append(out, names[i]+".."+names[j])
		} else {
			for k := i; k <= j; k++ {
				out = append(out, names[k])
			}
		}
		i = j + 1
	}
	return strings.Join(out, ",")
}

func formatComponent(items []calItem, f string) string {
	if items == nil {
		return "*"
	}
	parts := make([]string, 0, len(items))
	for _, it := range items {
		p := fmt.Sprintf(f, it.start)
		if it.stop >= 0 {
			p += ".." + fmt.Sprintf(f, it.stop)
		}
		if it.rep > 0 {
			p += "/" + strconv.Itoa(it.rep)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ",")
}
