package units

import (
	"fmt"
	"strings"
)

// [Unit] and [Install] directives.

func (b *builder) unitKey(a assignment) error {
	u := b.u
	switch a.key {
	case "Description":
		v, err := b.spec.resolve(a.value)
		u.Description = v
		return err
	case "Documentation":
		return b.appendList(&u.Documentation, a.value)
	case "After":
		return b.appendList(&u.After, a.value)
	case "Before":
		return b.appendList(&u.Before, a.value)
	case "Wants", "Requires":
		dst := &u.Wants
		if a.key == "Requires" {
			dst = &u.Requires
		}
		if err := b.appendList(dst, a.value); err != nil {
			return err
		}
		return b.depNote(a)
	case "RequiresMountsFor", "WantsMountsFor", "DefaultDependencies", "SourcePath":
		return nil // the container's mounts are in place before any unit starts
	case "RefuseManualStart", "RefuseManualStop":
		v, err := parseBool(a.value)
		if a.key == "RefuseManualStart" {
			u.RefuseManualStart = v
		} else {
			u.RefuseManualStop = v
		}
		return err
	}
	if dependencyDirective(a.key) {
		return b.depNote(a)
	}
	if a.key == "SuccessAction" && a.value != "" && a.value != "none" {
		b.successAction = true
	}
	if kind, assert, ok := conditionDirective(a.key); ok {
		return b.condition(a, kind, assert)
	}
	if why := notedReason("Unit", a.key); why != "" {
		if worthNoting(a.value) {
			b.notNote(a, why)
		}
		return nil
	}
	b.note(fmt.Sprintf("%s= in [Unit] is unknown and ignored (%s:%d)", a.key, a.file, a.line))
	return nil
}

// depNote notes a dependency directive unless it names only targets.
func (b *builder) depNote(a assignment) error {
	ws, err := b.words(a.value)
	if err != nil {
		return err
	}
	var units []string
	for _, w := range ws {
		if !strings.HasSuffix(w, ".target") {
			units = append(units, w)
		}
	}
	if len(units) > 0 {
		b.note(fmt.Sprintf("%s=%s is not enforced: dependencies are neither started nor stopped with the unit", a.key, strings.Join(units, " ")))
	}
	return nil
}

func conditionDirective(key string) (kind string, assert, ok bool) {
	switch {
	case strings.HasPrefix(key, "Condition"):
		kind = strings.TrimPrefix(key, "Condition")
	case strings.HasPrefix(key, "Assert"):
		kind, assert = strings.TrimPrefix(key, "Assert"), true
	default:
		return "", false, false
	}
	return kind, assert, conditionKind(kind)
}

func (b *builder) condition(a assignment, kind string, assert bool) error {
	if a.value == "" {
		// An empty assignment resets the conditions (or asserts) completely.
		kept := b.u.Conditions[:0]
		for _, c := range b.u.Conditions {
			if c.Assert != assert {
				kept = append(kept, c)
			}
		}
		b.u.Conditions = kept
		return nil
	}
	c := Condition{Kind: kind, Assert: assert}
	v := a.value
	if strings.HasPrefix(v, "|") {
		c.Trigger = true
		v = strings.TrimLeft(v[1:], " ")
	}
	if strings.HasPrefix(v, "!") {
		c.Negate = true
		v = strings.TrimLeft(v[1:], " ")
	}
	arg, err := b.spec.resolve(v)
	if err != nil {
		return err
	}
	if pathCondition(kind) && !strings.HasPrefix(arg, "/") {
		return fmt.Errorf("path %q is not absolute", arg)
	}
	c.Arg = arg
	b.u.Conditions = append(b.u.Conditions, c)
	return nil
}

func (b *builder) installKey(a assignment) error {
	u := b.u
	switch a.key {
	case "WantedBy":
		return b.appendList(&u.WantedBy, a.value)
	case "RequiredBy":
		return b.appendList(&u.RequiredBy, a.value)
	case "Alias":
		return b.appendList(&u.Aliases, a.value)
	case "Also":
		return b.appendList(&u.Also, a.value)
	case "DefaultInstance":
		v, err := b.spec.resolve(a.value)
		u.DefaultInstance = v
		return err
	}
	if why := notedReason("Install", a.key); why != "" {
		b.notNote(a, why)
		return nil
	}
	b.note(fmt.Sprintf("%s= in [Install] is unknown and ignored (%s:%d)", a.key, a.file, a.line))
	return nil
}
