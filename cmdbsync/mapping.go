package cmdbsync

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrMapping is matched (errors.Is) by every *MappingError: a mapping file
// that is not valid, or that does not fit the live table.
var ErrMapping = errors.New("cmdb mapping does not fit")

// Problem is one thing wrong with a mapping, with its fix.
type Problem struct {
	// Line in the mapping file (0: not a line's fault, e.g. a table's).
	Line int `json:"line,omitempty"`
	// Column of the target table it is about ("" if none).
	Column  string `json:"column,omitempty"`
	Problem string `json:"problem"`
	Fix     string `json:"fix,omitempty"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Column != "" {
		fmt.Fprintf(&b, "column %s: ", p.Column)
	}
	b.WriteString(p.Problem)
	if p.Fix != "" {
		b.WriteString("; fix: " + p.Fix)
	}
	return b.String()
}

// MappingError lists every problem of a mapping at once: those of the
// file itself (Table empty), or those found checking it against the live
// table. Nothing is written while a mapping has one.
type MappingError struct {
	File     string    `json:"file,omitempty"`
	Table    string    `json:"table,omitempty"`
	Problems []Problem `json:"problems"`
	billing  bool      // a billing mapping's
}

func (e *MappingError) Error() string {
	var b strings.Builder
	file := e.File
	if file == "" {
		file = "the mapping"
	}
	kind := "cmdb"
	if e.billing {
		kind = "billing"
	}
	if e.Table != "" {
		fmt.Fprintf(&b, "%s mapping %s does not fit table %s (%d problem(s), nothing written):", kind, file, e.Table, len(e.Problems))
	} else {
		fmt.Fprintf(&b, "%s mapping %s is not valid (%d problem(s)):", kind, file, len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("\n  - " + p.String())
	}
	return b.String()
}

func (e *MappingError) Unwrap() error { return ErrMapping }

// Unique-conflict policies (Mapping.OnUniqueConflict).
const (
	// PolicyError stops the sync with an error naming both rows' keys,
	// the column and the value. The default.
	PolicyError = "error"
	// PolicyReleaseDecommissioned clears the column (NULL) on the other
	// row when it is a decommissioned fatbox row, and writes on; any other
	// holder is still an error.
	PolicyReleaseDecommissioned = "release_decommissioned"
)

// Mapping says which table the sync writes and where each column's value
// comes from. The file format is in the package documentation.
type Mapping struct {
	// Table is the target table in the DSN's database.
	Table string
	// Key is the column that identifies a container's row.
	Key Key
	// Columns in file order.
	Columns []Column
	// Decommission says how a removed container's row is marked.
	Decommission Decommission
	// OnUniqueConflict is PolicyError or PolicyReleaseDecommissioned.
	OnUniqueConflict string
	// File is where the mapping was read from ("" if not a file).
	File string

	billing bool // a billing mapping (ParseBillingMapping)
}

// Key is the key column: its value is the container's stable id through
// Format (one %s).
type Key struct {
	Column string
	Format string
	// Period is, in a billing mapping, the column that takes the period's
	// start: the key is the pair (Column, Period).
	Period string
}

// Column is one mapped column: exactly one source (Field, Time or Const),
// then the transforms in this order: Multiply, Divide, Round, Map (with
// Default), Format.
type Column struct {
	Name  string
	Field string // a record field (see Fields)
	Time  string // created, changed or removed
	// Const is a constant (string, int64, float64, bool or nil) when
	// HasConst.
	Const    any
	HasConst bool
	Multiply float64
	Divide   float64
	Round    *int
	Map      map[string]string
	Default  *string // for values Map does not name; nil: they pass through
	Format   string
	Line     int // in the mapping file

	billing    bool               // its fields are a billing row's (BillingFieldNames)
	get        func(*state) value // the source, made once (eval)
	fpre, fsuf string             // around the value (Format)
}

// Decommission says what a removed container's row gets. The row is never
// deleted.
type Decommission struct {
	// Column (a mapped column) takes Value for a removed container,
	// in place of its mapping.
	Column string
	Value  string
	// TimeColumn takes the removal time; NULL while the container exists.
	TimeColumn string
}

// Time sources.
const (
	TimeCreated = "created" // the record's creation time
	TimeChanged = "changed" // the time of the container's last event
	TimeRemoved = "removed" // the time of its removal (NULL before)
)

//go:embed default_mapping.yaml
var defaultMappingYAML []byte

// DefaultMapping is the mapping for the default schema (Migrate).
func DefaultMapping() *Mapping {
	m, err := parseMapping(defaultMappingYAML, "default mapping")
	if err != nil {
		panic(err) // the embedded file is tested
	}
	return m
}

// DefaultMappingYAML is the default mapping's file, a starting point for
// one's own.
func DefaultMappingYAML() []byte { return slices.Clone(defaultMappingYAML) }

// LoadMapping reads and checks a mapping file.
func LoadMapping(path string) (*Mapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cmdb mapping: %w", err)
	}
	return parseMapping(b, path)
}

// ParseMapping reads and checks a mapping (YAML). Unknown keys are
// refused; every problem is reported at once in a *MappingError.
func ParseMapping(b []byte) (*Mapping, error) { return parseMapping(b, "") }

type parser struct {
	probs   []Problem
	billing bool // a billing mapping: its fields, key and keys
}

func (p *parser) add(n *yaml.Node, column, problem, fix string) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.probs = append(p.probs, Problem{Line: line, Column: column, Problem: problem, Fix: fix})
}

// fields returns the key/value pairs of a mapping node, refusing keys not in
// known and repeated keys.
func (p *parser) fields(n *yaml.Node, where string, known ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		p.add(n, "", where+" is not a mapping (key: value lines)", "")
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(known, k.Value) {
			p.add(k, "", fmt.Sprintf("unknown key %q in %s", k.Value, where), "use one of: "+strings.Join(known, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.add(k, "", fmt.Sprintf("key %q given twice in %s", k.Value, where), "keep one")
			continue
		}
		out[k.Value] = v
	}
	return out
}

func (p *parser) str(n *yaml.Node, where string) string {
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.add(n, "", where+" must be a string", "")
		return ""
	}
	return n.Value
}

func parseMapping(b []byte, file string) (*Mapping, error) { return parseMappingKind(b, file, false) }

// parseMappingKind reads a CMDB mapping, or a billing mapping (billing):
// the same format with the billing row's fields, a key of two columns
// (key.column and key.period) and no decommission or on_unique_conflict.
func parseMappingKind(b []byte, file string, billing bool) (*Mapping, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, &MappingError{File: file, billing: billing, Problems: []Problem{{Problem: "not YAML: " + err.Error(), Fix: "see the example in the cmdbsync package documentation"}}}
	}
	if len(doc.Content) == 0 {
		return nil, &MappingError{File: file, billing: billing, Problems: []Problem{{Problem: "empty", Fix: "give table, key and columns"}}}
	}
	p := &parser{billing: billing}
	m := &Mapping{File: file, OnUniqueConflict: PolicyError, billing: billing}
	topKeys := []string{"table", "key", "columns", "decommission", "on_unique_conflict"}
	keyKeys := []string{"column", "format"}
	if billing {
		topKeys, keyKeys = topKeys[:3], append(keyKeys, "period")
	}
	top := p.fields(doc.Content[0], "the mapping", topKeys...)

	m.Table = p.str(top["table"], "table")
	switch {
	case top["table"] == nil || m.Table == "":
		p.add(doc.Content[0], "", "no table given", "add `table: <name of the CMDB table>`")
	case strings.Contains(m.Table, "."):
		p.add(top["table"], "", fmt.Sprintf("table %q names a database", m.Table), "give the bare table name; the database is the DSN's")
	case len(m.Table) > 64:
		p.add(top["table"], "", fmt.Sprintf("table name %q is longer than 64 characters", m.Table), "")
	}

	if kn := top["key"]; kn == nil && billing {
		p.add(doc.Content[0], "", "no key given", "add `key: {column: <the container id's column>, period: <the period start's column>}`")
	} else if kn == nil {
		p.add(doc.Content[0], "", "no key given", "add `key: {column: <the column that identifies a row>}`")
	} else if kn.Kind == yaml.ScalarNode && !billing {
		m.Key.Column = p.str(kn, "key")
	} else {
		kf := p.fields(kn, "key", keyKeys...)
		m.Key.Column = p.str(kf["column"], "key.column")
		m.Key.Format = p.str(kf["format"], "key.format")
		m.Key.Period = p.str(kf["period"], "key.period")
		if m.Key.Column == "" {
			p.add(kn, "", "key has no column", "add `column: <name>` under key")
		}
		if billing && m.Key.Period == "" {
			p.add(kn, "", "key has no period: a billing row is keyed by the container and the period's start", "add `period: <the column that takes the period start>` under key")
		}
		if billing && m.Key.Period != "" && strings.EqualFold(m.Key.Period, m.Key.Column) {
			p.add(kf["period"], m.Key.Period, "key.period is key.column", "give two columns: the container id's and the period start's")
		}
	}
	if m.Key.Format == "" {
		m.Key.Format = "%s"
	}
	if _, _, err := splitFormat(m.Key.Format); err != nil {
		p.add(top["key"], m.Key.Column, "key format: "+err.Error(), `write one %s where the id goes, e.g. "FB-%s"`)
	}

	seen := map[string]bool{}
	if cn := top["columns"]; cn == nil || cn.Kind != yaml.MappingNode || len(cn.Content) == 0 {
		p.add(doc.Content[0], "", "no columns given", "add `columns:` with a line per column, e.g. `hostname: name`")
	} else {
		for i := 0; i+1 < len(cn.Content); i += 2 {
			k, v := cn.Content[i], cn.Content[i+1]
			if seen[strings.ToLower(k.Value)] {
				p.add(k, k.Value, "column given twice", "keep one")
				continue
			}
			seen[strings.ToLower(k.Value)] = true
			if m.Key.Column != "" && strings.EqualFold(k.Value, m.Key.Column) {
				p.add(k, k.Value, "the key column is also under columns", "remove it from columns: its value is the container id (through key.format)")
				continue
			}
			if m.Key.Period != "" && strings.EqualFold(k.Value, m.Key.Period) {
				p.add(k, k.Value, "the key.period column is also under columns", "remove it from columns: its value is the period's start")
				continue
			}
			if c, ok := p.column(k, v); ok {
				m.Columns = append(m.Columns, c)
			}
		}
	}

	if dn := top["decommission"]; billing {
		// billing rows are never decommissioned
	} else if dn == nil {
		p.add(doc.Content[0], "", "no decommission given: a removed container's row would look alive", "add `decommission: {column: <status column>, value: <its retired word>, time_column: <removal time column>}`")
	} else {
		df := p.fields(dn, "decommission", "column", "value", "time_column")
		m.Decommission.Column = p.str(df["column"], "decommission.column")
		m.Decommission.TimeColumn = p.str(df["time_column"], "decommission.time_column")
		if df["value"] != nil {
			if df["value"].Kind != yaml.ScalarNode || df["value"].Tag == "!!null" {
				p.add(df["value"], "", "decommission.value must be a word or number", "")
			}
			m.Decommission.Value = df["value"].Value
		}
		switch {
		case m.Decommission.Column == "" && m.Decommission.TimeColumn == "":
			p.add(dn, "", "decommission names neither column nor time_column", "give at least one, e.g. `column: status`, `value: decommissioned`, `time_column: decommissioned_at`")
		case m.Decommission.Column != "" && df["value"] == nil:
			p.add(dn, m.Decommission.Column, "decommission.column has no value", "add `value: <the word a removed container's row gets>`")
		case m.Decommission.Column == "" && df["value"] != nil:
			p.add(dn, "", "decommission.value without a column", "add `column: <the status column>`")
		}
		if c := m.Decommission.Column; c != "" && !seen[strings.ToLower(c)] {
			p.add(df["column"], c, "decommission.column is not under columns", "map it under columns too (its value while the container exists, e.g. `"+c+": {field: status}`)")
		}
		if c := m.Decommission.TimeColumn; c != "" {
			if seen[strings.ToLower(c)] {
				p.add(df["time_column"], c, "decommission.time_column is also under columns", "remove it from columns: the sync writes the removal time there (NULL before)")
			}
			if strings.EqualFold(c, m.Key.Column) || strings.EqualFold(c, m.Decommission.Column) {
				p.add(df["time_column"], c, "decommission.time_column is the key or the status column", "give the column that holds the removal time")
			}
		}
	}
	if n := top["on_unique_conflict"]; n != nil {
		m.OnUniqueConflict = p.str(n, "on_unique_conflict")
		if m.OnUniqueConflict != PolicyError && m.OnUniqueConflict != PolicyReleaseDecommissioned {
			p.add(n, "", fmt.Sprintf("on_unique_conflict %q is not a policy", m.OnUniqueConflict), "use error or release_decommissioned")
		}
	}
	if len(p.probs) > 0 {
		sort.SliceStable(p.probs, func(i, j int) bool { return p.probs[i].Line < p.probs[j].Line })
		return nil, &MappingError{File: file, billing: billing, Problems: p.probs}
	}
	return m, nil
}

// column reads one column: a field name, or a mapping of source and
// transforms.
func (p *parser) column(k, v *yaml.Node) (Column, bool) {
	c := Column{Name: k.Value, Line: k.Line, billing: p.billing}
	before := len(p.probs)
	bad := func(problem, fix string) { p.add(v, c.Name, problem, fix) }
	if c.Name == "" || len(c.Name) > 64 {
		p.add(k, c.Name, "a column name has 1 to 64 characters", "")
	}
	if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
		c.Field = v.Value
	} else {
		keys := []string{"field", "const", "time", "multiply", "divide", "round", "map", "default", "format"}
		if p.billing {
			keys = slices.Delete(keys, 2, 3) // no time: a billing row has its own times (fields)
		}
		f := p.fields(v, "column "+c.Name, keys...)
		c.Field = p.str(f["field"], "field")
		c.Time = p.str(f["time"], "time")
		if n := f["const"]; n != nil {
			c.HasConst = true
			if n.Kind != yaml.ScalarNode {
				bad("const must be a single value", "")
			}
			var x any
			if err := n.Decode(&x); err != nil {
				bad("const: "+err.Error(), "")
			}
			switch t := x.(type) {
			case int:
				c.Const = int64(t)
			default:
				c.Const = t
			}
		}
		num := func(key string) float64 {
			n := f[key]
			if n == nil {
				return 0
			}
			x, err := strconv.ParseFloat(n.Value, 64)
			if err != nil || x <= 0 || math.IsInf(x, 0) {
				p.add(n, c.Name, key+" must be a number above zero", "")
				return 0
			}
			return x
		}
		c.Multiply, c.Divide = num("multiply"), num("divide")
		if n := f["round"]; n != nil {
			d, err := strconv.Atoi(n.Value)
			if err != nil || d < 0 || d > 10 {
				p.add(n, c.Name, "round must be a number of decimals from 0 to 10", "")
			} else {
				c.Round = &d
			}
		}
		if n := f["map"]; n != nil {
			if n.Kind != yaml.MappingNode {
				p.add(n, c.Name, "map must be a mapping of value: replacement", "e.g. `map: {running: online, stopped: offline}`")
			} else {
				c.Map = map[string]string{}
				for i := 0; i+1 < len(n.Content); i += 2 {
					mk, mv := n.Content[i], n.Content[i+1]
					if mv.Kind != yaml.ScalarNode || mv.Tag == "!!null" {
						p.add(mv, c.Name, fmt.Sprintf("map value for %q must be a word or number", mk.Value), "")
						continue
					}
					c.Map[mk.Value] = mv.Value
				}
			}
		}
		if n := f["default"]; n != nil {
			if f["map"] == nil {
				p.add(n, c.Name, "default without a map", "default is the value for words the map does not name: add a map, or use const")
			}
			s := p.str(n, "default")
			c.Default = &s
		}
		c.Format = p.str(f["format"], "format")
	}
	sources := 0
	for _, set := range []bool{c.Field != "", c.Time != "", c.HasConst} {
		if set {
			sources++
		}
	}
	switch {
	case sources == 0 && p.billing:
		bad("no source", "give field or const (or just a field name: `"+c.Name+": vcpu_hours`)")
	case sources == 0:
		bad("no source", "give one of field, const or time (or just a field name: `"+c.Name+": hostname`)")
	case sources > 1:
		bad("more than one source", "give only one of field, const or time")
	}
	if c.Field != "" {
		if _, ok := c.lookup(); !ok && c.billing {
			bad(fmt.Sprintf("unknown field %q", c.Field), "use one of: "+strings.Join(BillingFieldNames(), ", "))
		} else if !ok {
			bad(fmt.Sprintf("unknown field %q", c.Field), "use one of: "+strings.Join(FieldNames(), ", ")+", label:<key>")
		}
	}
	if c.Time != "" && c.Time != TimeCreated && c.Time != TimeChanged && c.Time != TimeRemoved {
		bad(fmt.Sprintf("unknown time %q", c.Time), "use created, changed or removed")
	}
	if c.Format != "" {
		if _, _, err := splitFormat(c.Format); err != nil {
			bad("format: "+err.Error(), `write one %s where the value goes, e.g. "FB-%s"`)
		}
	}
	if len(p.probs) > before {
		return c, false
	}
	if _, err := c.staticType(); err != "" {
		bad(err, "")
		return c, false
	}
	_, c.get = c.source()
	c.fpre, c.fsuf, _ = splitFormat(c.Format)
	return c, true
}

// splitFormat splits a format of exactly one %s (and %% for a percent
// sign) into what goes before and after the value.
func splitFormat(f string) (prefix, suffix string, err error) {
	var parts [2]strings.Builder
	n := 0
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			parts[min(n, 1)].WriteByte(f[i])
			continue
		}
		if i+1 == len(f) {
			return "", "", fmt.Errorf("%q ends with a lone %%", f)
		}
		i++
		switch f[i] {
		case '%':
			parts[min(n, 1)].WriteByte('%')
		case 's':
			n++
		default:
			return "", "", fmt.Errorf("%q has %%%c: only %%s (the value) and %%%% are allowed", f, f[i])
		}
	}
	if n != 1 {
		return "", "", fmt.Errorf("%q has %d %%s: exactly one is needed", f, n)
	}
	return parts[0].String(), parts[1].String(), nil
}

// FieldNames lists the record fields a column may take (and label:<key>).
func FieldNames() []string {
	out := fieldNames()
	sort.Strings(out)
	return out
}
