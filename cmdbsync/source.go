package cmdbsync

import (
	"context"

	"github.com/fatbox/fatbox/inventory"
)

// Source is what the sync reads: the inventory's records and its event
// log. *inventory.Inventory is one; the sync reads nothing else (never
// runc, cgroups or netlink). Its methods may be called from several
// goroutines at once (a full reconcile reads records and events together).
type Source interface {
	// List returns every record.
	List(ctx context.Context) ([]inventory.Record, error)
	// Events returns up to limit events with Seq > after, in order
	// (limit <= 0: all of them).
	Events(ctx context.Context, after uint64, limit int) ([]inventory.Event, error)
	// LastSeq is the sequence number of the newest event (0: none).
	LastSeq(ctx context.Context) (uint64, error)
}

var _ Source = (*inventory.Inventory)(nil)
