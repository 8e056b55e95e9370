package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
)

// Period snapshots: the counters' totals per billing period.
//
// Billing needs the usage of a container per period (an hour by default),
// and the running totals at inventory/usage/<id> only say what was used
// since the container first ran. So every time a sample is recorded
// (RecordUsage, with Inventory.UsagePeriod set) the totals as of that
// sample are also kept for the period the sample was taken in, at
//
//	inventory/usage-periods/<id>/<period start, unix seconds>
//
// overwritten (CAS) by each later sample of the same period, so it ends up
// holding the totals as of the period's last sample. Periods are aligned
// on the Unix epoch (a 1h period starts on the hour, UTC).
//
// A period's usage is its snapshot minus the snapshot of the latest
// earlier period that has one (none: minus zero, the totals start at 0).
// A period with no snapshot used nothing that was observed.
//
// The rule for usage nobody observed when it accrued (the daemon down, or
// the store unreachable): it is assigned to the period in which it is first
// observed, i.e. to the period of the first sample after the gap, and that
// period is flagged late (see cmdbsync's billing: a gap that starts before
// the period and during which the container ran for longer than the
// allowed sampling gap). Usage between a period's last sample and its end
// is likewise counted in the next period; with a sample every minute that
// is at most a minute's worth.
//
// The snapshot is written after the totals, not in their transaction: a
// process that dies between the two loses that sample's snapshot only, and
// the next sample (of the same or a later period) carries the totals on.

// UsagePeriodsPrefix starts every period snapshot key.
const UsagePeriodsPrefix = "inventory/usage-periods/"

// PeriodSnapshot is a container's counter totals as of its last sample in
// one period.
type PeriodSnapshot struct {
	ContainerID string `json:"container_id"`
	Name        string `json:"name"`
	// Start is the period's start; PeriodSeconds its length.
	Start         time.Time `json:"start"`
	PeriodSeconds int64     `json:"period_seconds"`
	// Totals are the counters' running totals at LastAt.
	Totals map[string]uint64 `json:"totals"`
	// FirstAt and LastAt are the first and last sample's times in the period.
	FirstAt time.Time `json:"first_at"`
	LastAt  time.Time `json:"last_at"`
}

// Total is counter name's total (0 if never read).
func (p PeriodSnapshot) Total(name string) uint64 { return p.Totals[name] }

// PeriodStart is the start of the period of length period that holds t.
// Periods of whole seconds are aligned on the Unix epoch (time.Truncate
// would align them on year 1, which differs for lengths that do not divide
// a day).
func PeriodStart(t time.Time, period time.Duration) time.Time {
	secs := int64(period / time.Second)
	if secs <= 0 || period%time.Second != 0 {
		return t.UTC().Truncate(period)
	}
	u := t.Unix()
	return time.Unix(u-((u%secs)+secs)%secs, 0).UTC()
}

func periodKey(id string, start time.Time) (string, error) {
	if id == "" || strings.ContainsAny(id, "/\x00") {
		return "", fmt.Errorf("usage periods: container id %q is not valid: %w", id, ErrInvalid)
	}
	return fmt.Sprintf("%s%s/%d", UsagePeriodsPrefix, id, start.Unix()), nil
}

// RecordPeriod keeps u's totals (as of u.SampledAt) as the snapshot of the
// period of length period that holds u.SampledAt, unless the snapshot
// stored there is of a later sample. Written with CAS (store.Update).
func (i *Inventory) RecordPeriod(ctx context.Context, u Usage, period time.Duration) error {
	if period <= 0 {
		return fmt.Errorf("usage periods: period %v: %w", period, ErrInvalid)
	}
	if u.SampledAt.IsZero() {
		return nil
	}
	start := PeriodStart(u.SampledAt, period)
	k, err := periodKey(u.ContainerID, start)
	if err != nil {
		return err
	}
	totals := make(map[string]uint64, len(u.Counters))
	for name, c := range u.Counters {
		totals[name] = c.Total()
	}
	_, err = store.Update(ctx, i.Store, k, func(cur []byte, exists bool) ([]byte, error) {
		p := PeriodSnapshot{ContainerID: u.ContainerID, Start: start, PeriodSeconds: int64(period / time.Second), FirstAt: u.SampledAt.UTC()}
		if exists {
			if err := json.Unmarshal(cur, &p); err != nil {
				return nil, fmt.Errorf("usage period %q is corrupt: %w", k, err)
			}
			if p.LastAt.After(u.SampledAt) {
				return nil, store.ErrNoChange // a later sample is already kept
			}
			if p.FirstAt.IsZero() || u.SampledAt.Before(p.FirstAt) {
				p.FirstAt = u.SampledAt.UTC()
			}
		}
		p.Name, p.Totals, p.LastAt = u.Name, totals, u.SampledAt.UTC()
		return json.Marshal(p)
	})
	if err != nil {
		return fmt.Errorf("record the usage period of %q: %w", u.Name, err)
	}
	return nil
}

// UsagePeriods returns every container's period snapshots by container id,
// each list in period order.
func (i *Inventory) UsagePeriods(ctx context.Context) (map[string][]PeriodSnapshot, error) {
	kvs, err := i.Store.List(ctx, UsagePeriodsPrefix)
	if err != nil {
		return nil, err
	}
	out := map[string][]PeriodSnapshot{}
	for _, kv := range kvs {
		var p PeriodSnapshot
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			return nil, fmt.Errorf("usage period %q is corrupt: %w", kv.Key, err)
		}
		out[p.ContainerID] = append(out[p.ContainerID], p)
	}
	for _, ps := range out {
		sort.Slice(ps, func(a, b int) bool { return ps[a].Start.Before(ps[b].Start) })
	}
	return out, nil
}

// PruneUsagePeriods deletes the snapshots of container id (its events were
// pruned) and returns how many it deleted.
func (i *Inventory) PruneUsagePeriods(ctx context.Context, id string) (int, error) {
	if _, err := periodKey(id, time.Time{}); err != nil {
		return 0, err
	}
	kvs, err := i.Store.List(ctx, UsagePeriodsPrefix+id+"/")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, kv := range kvs {
		if _, err := strconv.ParseInt(kv.Key[strings.LastIndex(kv.Key, "/")+1:], 10, 64); err != nil {
			continue
		}
		if err := i.Store.Delete(ctx, kv.Key, kv.Version); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}
