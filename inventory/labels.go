package inventory

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// Limits of the free-form fields a user sets on a record.
const (
	MaxLabels     = 64
	MaxLabelValue = 255
	MaxFieldLen   = 128 // owner, app, env
)

var labelKeyRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$`)

// CheckLabels checks labels: at most MaxLabels; keys of 1-63 lowercase
// letters, digits, '.', '_', '/' and '-' starting and ending with a letter
// or digit; values of at most MaxLabelValue printable characters.
func CheckLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return &kindError{fmt.Sprintf("%d labels: a container holds at most %d: drop some (-l KEY-)", len(labels), MaxLabels), ErrInvalid}
	}
	for k, v := range labels {
		if !labelKeyRE.MatchString(k) {
			return &kindError{fmt.Sprintf("label key %q is not valid: use 1-63 lowercase letters, digits, '.', '_', '/' and '-', starting and ending with a letter or digit (e.g. team, cost-center)", k), ErrInvalid}
		}
		if err := printable("label "+k, v, MaxLabelValue); err != nil {
			return err
		}
	}
	return nil
}

// CheckField checks owner, app or env: at most MaxFieldLen printable
// characters ("" clears it).
func CheckField(field, v string) error { return printable(field, v, MaxFieldLen) }

func printable(field, v string, max int) error {
	if len(v) > max {
		return &kindError{fmt.Sprintf("%s is %d bytes long: give at most %d", field, len(v), max), ErrInvalid}
	}
	for _, c := range v {
		if !unicode.IsPrint(c) {
			return &kindError{fmt.Sprintf("%s %q holds a control character: give printable text", field, v), ErrInvalid}
		}
	}
	return nil
}

// ParseLabel reads KEY=VALUE (set) or KEY- (remove), as `-l` takes them.
func ParseLabel(s string) (key, value string, remove bool, err error) {
	if k, ok := strings.CutSuffix(s, "-"); ok && !strings.Contains(s, "=") {
		return k, "", true, nil
	}
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", false, &kindError{fmt.Sprintf("label %q: write KEY=VALUE to set it, or KEY- to remove it", s), ErrInvalid}
	}
	return k, v, false, nil
}

// Filter selects records, as `fatbox ls` and the API's query take it; zero
// fields match everything.
type Filter struct {
	App, Owner, Env, Status string
	Labels                  map[string]string
}

// Match reports whether r passes f.
func (f Filter) Match(r Record) bool {
	switch {
	case f.App != "" && r.App != f.App,
		f.Owner != "" && r.Owner != f.Owner,
		f.Env != "" && r.Env != f.Env,
		f.Status != "" && r.Status != f.Status:
		return false
	}
	for k, v := range f.Labels {
		if got, ok := r.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// LabelString is labels as k=v,k=v sorted by key.
func LabelString(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + labels[k])
	}
	return b.String()
}
