package cmdbsync

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

type colClass int

const (
	cOther colClass = iota
	cInt
	cDecimal
	cFloat
	cString
	cEnum
	cTime
	cDate
)

// colInfo is one column of the live table, as information_schema.COLUMNS
// tells it.
type colInfo struct {
	Name       string
	DataType   string // lower case: varchar, int, decimal, enum, datetime...
	ColumnType string // in full: "int(10) unsigned", "enum('a','b')"
	Nullable   bool
	HasDefault bool
	AutoInc    bool
	Generated  bool
	MaxLen     int64 // characters
	Precision  int64
	Scale      int64
	FSP        int64 // fractional seconds digits
	Unsigned   bool
	Enum       []string
	class      colClass
}

func (ci *colInfo) intRange() (lo, hi float64) {
	bits := map[string]int{"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "integer": 32, "bigint": 64}[ci.DataType]
	if bits == 0 {
		bits = 64
	}
	if ci.Unsigned {
		return 0, math.Pow(2, float64(bits)) - 1
	}
	return -math.Pow(2, float64(bits-1)), math.Pow(2, float64(bits-1)) - 1
}

// sqlType is the column's type as DDL writes it, with NOT NULL.
func (ci *colInfo) sqlType() string {
	s := strings.ToUpper(ci.ColumnType)
	if ci.class == cEnum {
		s = ci.ColumnType
	}
	if !ci.Nullable {
		s += " NOT NULL"
	}
	return s
}

// tableInfo is the live table.
type tableInfo struct {
	Schema  string
	Name    string
	Engine  string
	TxOK    bool // the engine has transactions
	cols    map[string]*colInfo
	order   []*colInfo
	uniques [][]string // the columns of each unique index (PRIMARY too)
}

func (t *tableInfo) col(name string) *colInfo { return t.cols[strings.ToLower(name)] }

// uniqueAlone reports whether column name alone has a unique index.
func (t *tableInfo) uniqueAlone(name string) bool {
	for _, u := range t.uniques {
		if len(u) == 1 && strings.EqualFold(u[0], name) {
			return true
		}
	}
	return false
}

// uniquePair reports whether a unique index is over exactly columns a and
// b (in either order).
func (t *tableInfo) uniquePair(a, b string) bool {
	for _, u := range t.uniques {
		if len(u) == 2 && (strings.EqualFold(u[0], a) && strings.EqualFold(u[1], b) || strings.EqualFold(u[0], b) && strings.EqualFold(u[1], a)) {
			return true
		}
	}
	return false
}

func (t *tableInfo) qualified() string { return quote(t.Schema) + "." + quote(t.Name) }

// quote quotes an identifier (one the check found in information_schema).
func quote(id string) string { return "`" + strings.ReplaceAll(id, "`", "``") + "`" }

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// loadTable reads the live table's columns and unique indexes; nil if
// there is no such table in the connection's database.
func loadTable(ctx context.Context, q querier, table string) (*tableInfo, string, error) {
	var schema sql.NullString
	if err := q.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&schema); err != nil {
		return nil, "", err
	}
	if !schema.Valid {
		return nil, "", fmt.Errorf("the DSN names no database: add it after the address, e.g. tcp(host:3306)/cmdb")
	}
	t := &tableInfo{Schema: schema.String, cols: map[string]*colInfo{}}
	var engine, ttype sql.NullString
	err := q.QueryRowContext(ctx, `SELECT TABLE_NAME, ENGINE, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
		schema.String, table).Scan(&t.Name, &engine, &ttype)
	if err == sql.ErrNoRows {
		return nil, schema.String, nil
	}
	if err != nil {
		return nil, "", err
	}
	t.Engine = engine.String
	if engine.Valid {
		var tx sql.NullString
		if err := q.QueryRowContext(ctx, `SELECT TRANSACTIONS FROM information_schema.ENGINES WHERE ENGINE = ?`, engine.String).Scan(&tx); err != nil && err != sql.ErrNoRows {
			return nil, "", err
		}
		t.TxOK = strings.EqualFold(tx.String, "YES")
	}
	if ttype.String == "VIEW" {
		t.Engine = "VIEW"
	}
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA,
		CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, schema.String, t.Name)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	for rows.Next() {
		var ci colInfo
		var nullable, extra string
		var def sql.NullString
		var maxLen, prec, scale, fsp sql.NullInt64
		if err := rows.Scan(&ci.Name, &ci.DataType, &ci.ColumnType, &nullable, &def, &extra, &maxLen, &prec, &scale, &fsp); err != nil {
			return nil, "", err
		}
		ci.DataType = strings.ToLower(ci.DataType)
		ci.Nullable = nullable == "YES"
		ci.HasDefault = def.Valid
		ex := strings.ToLower(extra)
		ci.AutoInc = strings.Contains(ex, "auto_increment")
		ci.Generated = strings.Contains(ex, "generated") || strings.Contains(ex, "virtual") || strings.Contains(ex, "persistent") || strings.Contains(ex, "stored")
		ci.MaxLen, ci.Precision, ci.Scale, ci.FSP = maxLen.Int64, prec.Int64, scale.Int64, fsp.Int64
		ci.Unsigned = strings.Contains(strings.ToLower(ci.ColumnType), "unsigned")
		switch ci.DataType {
		case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
			ci.class = cInt
		case "decimal", "numeric":
			ci.class = cDecimal
		case "float", "double", "real":
			ci.class = cFloat
		case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
			ci.class = cString
		case "enum":
			ci.class = cEnum
			ci.Enum = enumWords(ci.ColumnType)
		case "datetime", "timestamp":
			ci.class = cTime
		case "date":
			ci.class = cDate
		}
		c := ci
		t.cols[strings.ToLower(ci.Name)] = &c
		t.order = append(t.order, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	irows, err := q.QueryContext(ctx, `SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX`, schema.String, t.Name)
	if err != nil {
		return nil, "", err
	}
	defer irows.Close()
	idx := map[string]int{}
	for irows.Next() {
		var name, col string
		if err := irows.Scan(&name, &col); err != nil {
			return nil, "", err
		}
		i, ok := idx[name]
		if !ok {
			i = len(t.uniques)
			idx[name] = i
			t.uniques = append(t.uniques, nil)
		}
		t.uniques[i] = append(t.uniques[i], col)
	}
	return t, schema.String, irows.Err()
}

// enumWords reads the words of "enum('a','b”c')".
func enumWords(ct string) []string {
	var out []string
	s := ct[strings.IndexByte(ct, '(')+1:]
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			return out
		}
		s = s[i+1:]
		var w strings.Builder
		for len(s) > 0 {
			if s[0] == '\'' {
				if len(s) > 1 && s[1] == '\'' {
					w.WriteByte('\'')
					s = s[2:]
					continue
				}
				s = s[1:]
				break
			}
			if s[0] == '\\' && len(s) > 1 {
				w.WriteByte(s[1])
				s = s[2:]
				continue
			}
			w.WriteByte(s[0])
			s = s[1:]
		}
		out = append(out, w.String())
	}
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func enumList(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = sqlString(w)
	}
	return strings.Join(q, ",")
}

// suggest is a column type that holds t.
func suggest(t vtype) string {
	switch t.k {
	case kInt:
		switch {
		case t.max <= 65535:
			return "SMALLINT UNSIGNED"
		case t.max <= 4294967295:
			return "INT UNSIGNED"
		}
		return "BIGINT UNSIGNED"
	case kNum:
		d := t.digits
		if d < 0 {
			d = 2
		}
		if d == 0 {
			return suggest(vtype{k: kInt, max: t.max})
		}
		return fmt.Sprintf("DECIMAL(%d,%d)", len(strconv.FormatInt(int64(t.max), 10))+d, d)
	case kTime:
		return "DATETIME"
	}
	n := t.textLen()
	if n < 0 {
		n = 255
	}
	return fmt.Sprintf("VARCHAR(%d)", n)
}

func allInts(words []string) bool {
	if words == nil {
		return false
	}
	for _, w := range words {
		if _, err := strconv.ParseInt(w, 10, 64); err != nil {
			return false
		}
	}
	return true
}

func allNumbers(words []string) bool {
	if words == nil {
		return false
	}
	for _, w := range words {
		if _, err := strconv.ParseFloat(w, 64); err != nil {
			return false
		}
	}
	return true
}

// check compares the mapping with the live table: every problem, each with
// its fix.
func check(m *Mapping, t *tableInfo, schema string) (problems, warnings []Problem) {
	var out, warn []Problem
	add := func(line int, col, problem, fix string) {
		out = append(out, Problem{Line: line, Column: col, Problem: problem, Fix: fix})
	}
	if t == nil && m.billing {
		add(0, "", fmt.Sprintf("there is no table %s in database %s", quote(m.Table), quote(schema)),
			"create it, point the DSN at the database that has it, or drop the mapping to write fatbox's default table "+BillingTable)
		return out, nil
	}
	if t == nil {
		add(0, "", fmt.Sprintf("there is no table %s in database %s", quote(m.Table), quote(schema)),
			"create it (for the default schema: fatbox's default mapping creates fatbox_vm itself), or point the DSN at the database that has it")
		return out, nil
	}
	tq := quote(t.Name)
	modify := func(ci *colInfo, typ string, nullable bool) string {
		nn := " NOT NULL"
		if nullable {
			nn = " NULL"
		}
		return fmt.Sprintf("ALTER TABLE %s MODIFY %s %s%s (restate its DEFAULT and COMMENT, if any)", tq, quote(ci.Name), typ, nn)
	}
	switch {
	case t.Engine == "VIEW":
		add(0, "", fmt.Sprintf("%s is a view: rows and the sync position must be written in one transaction", tq), "map the base table")
	case !t.TxOK:
		add(0, "", fmt.Sprintf("table %s uses engine %s, which has no transactions: a crash could apply a change twice or lose it", tq, t.Engine),
			fmt.Sprintf("ALTER TABLE %s ENGINE=InnoDB", tq))
	}
	missing := func(line int, name, what string) {
		fix := fmt.Sprintf("ALTER TABLE %s ADD %s ..., or map another column", tq, quote(name))
		if near := nearest(name, t.order); near != "" {
			fix = fmt.Sprintf("did you mean %s? or ALTER TABLE %s ADD %s ...", near, tq, quote(name))
		}
		add(line, name, fmt.Sprintf("%s: the table has no such column", what), fix)
	}
	// fits reports a column that cannot hold values of type vt.
	fits := func(line int, ci *colInfo, vt vtype) {
		bad := func(problem, typ string) {
			add(line, ci.Name, fmt.Sprintf("%s cannot hold %s: %s", ci.sqlType(), vt.what, problem), modify(ci, typ, ci.Nullable || vt.nullable))
		}
		if ci.Generated {
			add(line, ci.Name, "is a generated column: it cannot be written", "map another column")
			return
		}
		switch ci.class {
		case cInt:
			switch {
			case vt.k == kInt || vt.k == kNum && vt.digits == 0:
				if _, hi := ci.intRange(); hi < vt.max {
					bad(fmt.Sprintf("it holds up to %.0f, the value reaches %.0f", hi, vt.max), suggest(vt))
				}
			case vt.k == kNum:
				bad("the value has decimals", suggest(vt)+" (or round: 0 in the mapping)")
			case vt.k == kString && allInts(vt.words):
			case vt.k == kString:
				bad("a text value into an integer column", suggest(vt))
			case vt.k == kTime:
				bad("a time into an integer column", "DATETIME")
			}
		case cDecimal:
			switch {
			case vt.k == kInt || vt.k == kNum:
				need := int64(len(strconv.FormatInt(int64(vt.max), 10)))
				if ci.Precision-ci.Scale < need {
					bad(fmt.Sprintf("it has %d digit(s) before the point, the value needs %d", ci.Precision-ci.Scale, need), suggest(vt))
				} else if vt.k == kNum && int64(vt.digits) > ci.Scale {
					bad(fmt.Sprintf("it keeps %d decimal(s), the value is rounded to %d", ci.Scale, vt.digits), fmt.Sprintf("DECIMAL(%d,%d) (or round: %d in the mapping)", need+int64(vt.digits), vt.digits, ci.Scale))
				}
			case vt.k == kString && allNumbers(vt.words):
			case vt.k == kString:
				bad("a text value into a number column", suggest(vt))
			default:
				bad("a time into a number column", "DATETIME")
			}
		case cFloat:
			switch {
			case vt.k == kInt || vt.k == kNum, vt.k == kString && allNumbers(vt.words):
			case vt.k == kString:
				bad("a text value into a number column", suggest(vt))
			default:
				bad("a time into a number column", "DATETIME")
			}
		case cString:
			if n := vt.textLen(); n > 0 && int64(n) > ci.MaxLen && vt.soft {
				warn = append(warn, Problem{Line: line, Column: ci.Name,
					Problem: fmt.Sprintf("%s is shorter than %s may be: a longer value stops the sync with an error naming it", ci.sqlType(), vt.what),
					Fix:     modify(ci, fmt.Sprintf("VARCHAR(%d)", n), ci.Nullable)})
			} else if n > 0 && int64(n) > ci.MaxLen {
				bad(fmt.Sprintf("it is too short: the value takes up to %d characters", n), fmt.Sprintf("VARCHAR(%d)", n))
			}
		case cEnum:
			if vt.k != kString || vt.words == nil {
				add(line, ci.Name, fmt.Sprintf("%s takes only its words, and %s is not from a known set", ci.sqlType(), vt.what),
					fmt.Sprintf("give a map (with a default) onto its words %s in the mapping, or make it VARCHAR", strings.Join(ci.Enum, ", ")))
				return
			}
			var lack []string
			for _, w := range vt.words {
				if !slices.Contains(ci.Enum, w) {
					lack = append(lack, w)
				}
			}
			if len(lack) > 0 {
				add(line, ci.Name, fmt.Sprintf("%s lacks the word(s) %s that the mapping writes", ci.sqlType(), strings.Join(lack, ", ")),
					modify(ci, "ENUM("+enumList(append(slices.Clone(ci.Enum), lack...))+")", ci.Nullable)+", or map onto its words")
			}
		case cTime, cDate:
			if vt.k != kTime {
				bad("not a time", suggest(vt))
			}
		default:
			add(line, ci.Name, fmt.Sprintf("the sync does not write %s columns", ci.sqlType()), modify(ci, suggest(vt), true))
			return
		}
		if vt.nullable && !ci.Nullable {
			add(line, ci.Name, fmt.Sprintf("is NOT NULL, but %s is NULL at times", vt.what), modify(ci, strings.TrimSuffix(ci.sqlType(), " NOT NULL"), true))
		}
	}

	// The key.
	if ci := t.col(m.Key.Column); ci == nil {
		missing(0, m.Key.Column, "the key column")
	} else {
		pre, suf, _ := splitFormat(m.Key.Format)
		kt := vtype{k: kString, maxLen: 36 + len(pre) + len(suf), what: "the key (the container id through " + strconv.Quote(m.Key.Format) + ")"}
		if ci.class != cString {
			add(0, ci.Name, fmt.Sprintf("the key column is %s: the key is text (%d characters)", ci.sqlType(), kt.maxLen), modify(ci, fmt.Sprintf("VARCHAR(%d)", kt.maxLen), false))
		} else {
			fits(0, ci, kt)
		}
		if !m.billing && !t.uniqueAlone(ci.Name) {
			add(0, ci.Name, "the key column has no unique index of its own: rows could not be found by it", fmt.Sprintf("ALTER TABLE %s ADD UNIQUE (%s)", tq, quote(ci.Name)))
		}
	}
	if m.billing {
		pc := t.col(m.Key.Period)
		if pc == nil {
			missing(0, m.Key.Period, "key.period (the period start's column)")
		} else {
			fits(0, pc, vtype{k: kTime, what: "the period's start"})
		}
		if ci := t.col(m.Key.Column); ci != nil && pc != nil && !t.uniquePair(ci.Name, pc.Name) {
			add(0, ci.Name, fmt.Sprintf("no unique index (or primary key) over exactly the key's columns %s and %s: a period billed twice would not be refused", ci.Name, pc.Name),
				fmt.Sprintf("ALTER TABLE %s ADD UNIQUE (%s, %s)", tq, quote(ci.Name), quote(pc.Name)))
		}
	}

	mapped := map[string]bool{strings.ToLower(m.Key.Column): true, strings.ToLower(m.Key.Period): true}
	for i := range m.Columns {
		c := &m.Columns[i]
		mapped[strings.ToLower(c.Name)] = true
		ci := t.col(c.Name)
		if ci == nil {
			missing(c.Line, c.Name, "mapped")
			continue
		}
		dec := strings.EqualFold(c.Name, m.Decommission.Column)
		vt, _ := c.staticType(dec)
		fits(c.Line, ci, vt)
		if dec && !ci.Generated {
			if _, err := ci.cast(vstr(m.Decommission.Value)); err != nil {
				fix := "give decommission.value that the column takes"
				if ci.class == cEnum {
					fix += " (one of " + strings.Join(ci.Enum, ", ") + "), or add it: " + modify(ci, "ENUM("+enumList(append(slices.Clone(ci.Enum), m.Decommission.Value))+")", ci.Nullable)
				}
				add(c.Line, ci.Name, "decommission.value "+strconv.Quote(m.Decommission.Value)+": "+err.Error(), fix)
			}
		}
		if m.OnUniqueConflict == PolicyReleaseDecommissioned && t.uniqueAlone(ci.Name) && !ci.Nullable {
			add(c.Line, ci.Name, "has a unique index and on_unique_conflict is release_decommissioned, but it is NOT NULL: a decommissioned row's value could not be released",
				modify(ci, strings.TrimSuffix(ci.sqlType(), " NOT NULL"), true)+", or use on_unique_conflict: error")
		}
	}
	if tc := m.Decommission.TimeColumn; tc != "" {
		mapped[strings.ToLower(tc)] = true
		if ci := t.col(tc); ci == nil {
			missing(0, tc, "decommission.time_column")
		} else {
			fits(0, ci, vtype{k: kTime, nullable: true, what: "the removal time (NULL while the container exists)"})
		}
	}
	for _, ci := range t.order {
		if mapped[strings.ToLower(ci.Name)] || ci.Nullable || ci.HasDefault || ci.AutoInc || ci.Generated {
			continue
		}
		add(0, ci.Name, fmt.Sprintf("is required (NOT NULL, no default) and the mapping gives it no value"),
			fmt.Sprintf("map it under columns (e.g. `%s: {const: ...}`), or give it a default: ALTER TABLE %s ALTER %s SET DEFAULT ...", ci.Name, tq, quote(ci.Name)))
	}
	return out, warn
}

// nearest is a column whose name is within two edits of name, or starts
// like it.
func nearest(name string, cols []*colInfo) string {
	best, bestD := "", 3
	for _, ci := range cols {
		a, b := strings.ToLower(name), strings.ToLower(ci.Name)
		d := editDistance(a, b)
		if d > 2 && min(len(a), len(b)) >= 2 && (strings.HasPrefix(a, b) || strings.HasPrefix(b, a)) {
			d = 2 // ip_addr, ip_address
		}
		if d < bestD {
			best, bestD = ci.Name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
