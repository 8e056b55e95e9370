package units

import (
	"errors"
	"fmt"
	"time"
)

// [Timer] directives.

func (b *builder) timerKey(a assignment) error {
	t := b.u.Timer
	span := func(dst *time.Duration) error {
		if a.value == "" {
			*dst = 0
			return nil
		}
		d, inf, err := parseTimespan(a.value)
		if err != nil {
			return err
		}
		if inf {
			return fmt.Errorf("a timer span cannot be infinity")
		}
		*dst = d
		return nil
	}
	boolean := func(dst *bool) error {
		v, err := parseBool(a.value)
		*dst = v
		return err
	}
	switch a.key {
	case "OnCalendar":
		if a.value == "" {
			t.OnCalendar = nil
			return nil
		}
		v, err := b.spec.resolve(a.value)
		if err != nil {
			return err
		}
		c, err := ParseCalendar(v)
		if err != nil {
			var ue *UnsupportedError
			if errors.As(err, &ue) {
				ue.Unit, ue.File, ue.Line = b.u.Name, a.file, a.line
			}
			return err
		}
		t.OnCalendar = append(t.OnCalendar, c)
	case "OnActiveSec":
		return span(&t.OnActiveSec)
	case "OnBootSec":
		return span(&t.OnBootSec)
	case "OnStartupSec":
		return span(&t.OnStartupSec)
	case "OnUnitActiveSec":
		return span(&t.OnUnitActiveSec)
	case "OnUnitInactiveSec":
		return span(&t.OnUnitInactiveSec)
	case "AccuracySec":
		return span(&t.AccuracySec)
	case "RandomizedDelaySec":
		return span(&t.RandomizedDelaySec)
	case "Persistent":
		return boolean(&t.Persistent)
	case "FixedRandomDelay":
		return boolean(&t.FixedRandomDelay)
	case "RemainAfterElapse":
		return boolean(&t.RemainAfterElapse)
	case "WakeSystem":
		if err := boolean(&t.WakeSystem); err != nil {
			return err
		}
		if t.WakeSystem {
			b.notNote(a, notedReason("Timer", a.key))
		}
	case "Unit":
		v, err := b.spec.resolve(a.value)
		if err != nil {
			return err
		}
		if err := validName(v); err != nil {
			return err
		}
		t.Unit = v
	default:
		if why := notedReason("Timer", a.key); why != "" {
			b.notNote(a, why)
			return nil
		}
		return b.unsupported(a, "unknown [Timer] directive (typo?); fix it in a drop-in or prefix it with X- to ignore it")
	}
	return nil
}
