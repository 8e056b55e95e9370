package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/memstore"
)

func TestValidName(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, good := range []string{"web-01", "a", "0", "9lives", "a-b-c", "x--y", long, "db1"} {
		if err := ValidName(good); err != nil {
			t.Errorf("ValidName(%q): %v", good, err)
		}
	}
	for _, c := range []struct{ name, why string }{
		{"", "no container name given"},
		{".", `has '.'`},
		{"_", `has '_'`},
		{"web_01", `has '_'`},
		{"web.example", `has '.'`},
		{"Web-01", "upper case"},
		{"WEB", "upper case"},
		{long + "a", "is 64 characters long"},
		{"-web", "starts with '-'"},
		{"web-", "ends with '-'"},
		{"-", "starts with '-'"},
		{"wéb", `has 'é'`},
		{"ａｂ", `has 'ａ'`}, // full-width letters
		{"web 01", `has ' '`},
		{"web/01", `has '/'`},
		{"web\x00", `has '\x00'`},
	} {
		err := ValidName(c.name)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("ValidName(%q) = %v, want ErrInvalid saying %q", c.name, err, c.why)
		}
		if err != nil && c.name != "" && !strings.Contains(err.Error(), "e.g. web-01") {
			t.Errorf("ValidName(%q): %v does not say what a good name is", c.name, err)
		}
	}
	// The length is in bytes, as DNS counts it: 32 two-byte runes are refused.
	if err := ValidName(strings.Repeat("é", 32)); err == nil {
		t.Error("a 64-byte name was accepted")
	}
}

func TestExistsError(t *testing.T) {
	err := ExistsError("web-01")
	if !errors.Is(err, ErrExists) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"web-01"`) {
		t.Fatalf("ExistsError: %v", err)
	}
}

func newInv() (*Inventory, *memstore.Store) {
	st := memstore.New()
	return &Inventory{Store: st}, st
}

func TestCreateGetListDelete(t *testing.T) {
	ctx := context.Background()
	inv, _ := newInv()
	before := time.Now().UTC()
	if err := inv.Create(ctx, Record{Name: "web-02", Hostname: "web-02", Pool: "prod", ImageID: "img1", Status: StatusRunning}); err != nil {
		t.Fatal(err)
	}
	r, err := inv.Get(ctx, "web-02")
	if err != nil {
		t.Fatal(err)
	}
	if r.Pool != "prod" || r.ID == "" || r.CreatedAt.Before(before) || !r.UpdatedAt.Equal(r.CreatedAt) {
		t.Fatalf("created %+v", r)
	}
	// A second record of one name is refused; the first is untouched.
	err = inv.Create(ctx, Record{Name: "web-02", Pool: "other"})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "web-02") {
		t.Fatalf("second create: %v", err)
	}
	if again, _ := inv.Get(ctx, "web-02"); again.Pool != "prod" || again.ID != r.ID {
		t.Fatalf("the refused create changed the record: %+v", again)
	}
	// A given CreatedAt and ID are kept (a migration, an adoption).
	old := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	if err := inv.Create(ctx, Record{Name: "db-01", ID: "fixed-id", CreatedAt: old}); err != nil {
		t.Fatal(err)
	}
	if r, _ := inv.Get(ctx, "db-01"); !r.CreatedAt.Equal(old) || r.ID != "fixed-id" || !r.UpdatedAt.After(old) {
		t.Fatalf("given fields: %+v", r)
	}
	if err := inv.Create(ctx, Record{Name: "app-01"}); err != nil {
		t.Fatal(err)
	}
	rs, err := inv.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
	}
	if strings.Join(names, ",") != "app-01,db-01,web-02" {
		t.Fatalf("List: %v, want by name", names)
	}
	if _, err := inv.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("Get(nope): %v", err)
	}
	if err := inv.Delete(ctx, "web-02"); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Get(ctx, "web-02"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := inv.Delete(ctx, "web-02"); err != nil {
		t.Fatalf("deleting a missing record: %v", err)
	}
	if rs, _ := inv.List(ctx); len(rs) != 2 {
		t.Fatalf("%d records left", len(rs))
	}
	// IDs differ between records.
	a, _ := inv.Get(ctx, "app-01")
	if a.ID == "" || a.ID == r.ID {
		t.Fatalf("IDs %q %q", a.ID, r.ID)
	}
}

// Put replaces the record but keeps when (and as what) it was created, and
// says when it changed.
func TestPutKeepsCreatedAt(t *testing.T) {
	ctx := context.Background()
	inv, _ := newInv()
	if err := inv.Create(ctx, Record{Name: "web-01", Status: StatusStopped, MemoryMiB: 512}); err != nil {
		t.Fatal(err)
	}
	orig, _ := inv.Get(ctx, "web-01")
	stale := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	next := orig
	next.MemoryMiB, next.CreatedAt, next.UpdatedAt, next.ID = 1024, stale, stale, "another-id"
	if err := inv.Put(ctx, next); err != nil {
		t.Fatal(err)
	}
	got, _ := inv.Get(ctx, "web-01")
	if got.MemoryMiB != 1024 {
		t.Fatalf("the change was lost: %+v", got)
	}
	if !got.CreatedAt.Equal(orig.CreatedAt) || got.ID != orig.ID {
		t.Fatalf("created %v id %q, want %v %q kept", got.CreatedAt, got.ID, orig.CreatedAt, orig.ID)
	}
	if got.UpdatedAt.Equal(stale) || got.UpdatedAt.Before(orig.UpdatedAt) {
		t.Fatalf("updated %v: the caller's value, or before the create's %v", got.UpdatedAt, orig.UpdatedAt)
	}
	err := inv.Put(ctx, Record{Name: "ghost"})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Put of a missing record: %v", err)
	}
	if _, err := inv.Get(ctx, "ghost"); !errors.Is(err, ErrNotFound) {
		t.Fatal("Put created a record")
	}
}

// Records written before DiskMiB had disk_gib (and no ID): they read back
// in today's shape, the same on every read, and the next write stores it.
func TestOldRecordShape(t *testing.T) {
	ctx := context.Background()
	inv, st := newInv()
	created := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	raw, _ := json.Marshal(map[string]any{"name": "old-01", "hostname": "old-01", "disk_gib": 3, "status": "stopped", "created_at": created})
	if _, err := st.Create(ctx, key("old-01"), raw); err != nil {
		t.Fatal(err)
	}
	both, _ := json.Marshal(map[string]any{"name": "mixed", "disk_gib": 3, "disk_mib": 2500, "status": "stopped"})
	if _, err := st.Create(ctx, key("mixed"), both); err != nil {
		t.Fatal(err)
	}
	r, err := inv.Get(ctx, "old-01")
	if err != nil {
		t.Fatal(err)
	}
	if r.DiskMiB != 3<<10 || r.DiskGiB != 0 || r.ID == "" {
		t.Fatalf("old record read as %+v", r)
	}
	again, _ := inv.Get(ctx, "old-01")
	rs, _ := inv.List(ctx)
	if again.ID != r.ID || len(rs) != 2 || rs[1].ID != r.ID || rs[1].DiskMiB != 3<<10 || rs[1].DiskGiB != 0 {
		t.Fatalf("reads differ: %q %q %+v", r.ID, again.ID, rs)
	}
	if m, _ := inv.Get(ctx, "mixed"); m.DiskMiB != 2500 {
		t.Fatalf("disk_mib and disk_gib: %d MiB, want disk_mib's 2500", m.DiskMiB)
	}
	r.Status = StatusRunning
	if err := inv.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	kv, _ := st.Get(ctx, key("old-01"))
	var stored map[string]any
	json.Unmarshal(kv.Value, &stored)
	if _, has := stored["disk_gib"]; has || stored["disk_mib"] != float64(3<<10) || stored["id"] != r.ID {
		t.Fatalf("stored after Put: %s", kv.Value)
	}
}

func TestCorruptRecord(t *testing.T) {
	ctx := context.Background()
	inv, st := newInv()
	inv.Create(ctx, Record{Name: "ok-01"})
	st.Create(ctx, key("bad-01"), []byte("{not json"))
	if _, err := inv.Get(ctx, "bad-01"); err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), "bad-01") {
		t.Fatalf("Get: %v", err)
	}
	if _, err := inv.List(ctx); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("List: %v", err)
	}
	if err := inv.Put(ctx, Record{Name: "bad-01"}); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Put over a corrupt record: %v", err)
	}
}

func TestPoolsAndUsersOfImage(t *testing.T) {
	ctx := context.Background()
	inv, _ := newInv()
	if p, err := inv.Pools(ctx); err != nil || len(p) != 0 {
		t.Fatalf("empty: %v %v", p, err)
	}
	for _, r := range []Record{
		{Name: "a", Pool: "prod", ImageID: "img1", Node: "n1"},
		{Name: "b", Pool: "prod", ImageID: "img2", Node: "n2"},
		{Name: "c", Pool: "dev", ImageID: "img1", Node: "n2"},
		{Name: "d", ImageID: "img3"},
	} {
		if err := inv.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	p, err := inv.Pools(ctx)
	if want := map[string]string{"a": "prod", "b": "prod", "c": "dev", "d": ""}; err != nil || !reflect.DeepEqual(p, want) {
		t.Fatalf("Pools %v, %v; want %v", p, err, want)
	}
	for id, want := range map[string]string{"img1": "a,c", "img2": "b", "img9": ""} {
		us, err := inv.UsersOfImage(ctx, id)
		if err != nil || strings.Join(us, ",") != want {
			t.Errorf("UsersOfImage(%s) = %v, %v; want %q", id, us, err, want)
		}
	}
}

// failingStore fails every read.
type failingStore struct{ store.Store }

func (failingStore) List(context.Context, string) ([]store.KV, error) {
	return nil, store.Unavailablef("down")
}

func TestQueriesFailClosed(t *testing.T) {
	inv := &Inventory{Store: failingStore{memstore.New()}}
	if _, err := inv.Pools(context.Background()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Pools: %v", err)
	}
	if _, err := inv.UsersOfImage(context.Background(), "x"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("UsersOfImage: %v (an image store that reads 'no users' here would delete an image in use)", err)
	}
}

func TestRenameOps(t *testing.T) {
	ctx := context.Background()
	inv, st := newInv()
	if err := inv.Create(ctx, Record{Name: "web-01", Hostname: "web-01", Pool: "prod", IP: "198.18.0.5", Status: StatusStopped}); err != nil {
		t.Fatal(err)
	}
	if err := inv.Create(ctx, Record{Name: "db-01", Hostname: "db.example.com", Status: StatusStopped}); err != nil {
		t.Fatal(err)
	}
	orig, _ := inv.Get(ctx, "web-01")
	ops, err := inv.RenameOps(ctx, "web-01", "web-09")
	if err != nil {
		t.Fatal(err)
	}
	// RenameOps writes nothing itself.
	if _, err := inv.Get(ctx, "web-09"); !errors.Is(err, ErrNotFound) {
		t.Fatal("RenameOps wrote the new record")
	}
	if _, err := st.Txn(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Get(ctx, "web-01"); !errors.Is(err, ErrNotFound) {
		t.Fatal("the old record is still there")
	}
	r, err := inv.Get(ctx, "web-09")
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "web-09" || r.Hostname != "web-09" || r.RenamedFrom != "web-01" || r.IP != orig.IP || r.ID != orig.ID || !r.CreatedAt.Equal(orig.CreatedAt) {
		t.Fatalf("renamed record %+v (was %+v)", r, orig)
	}
	// A hostname of its own stays.
	ops, _ = inv.RenameOps(ctx, "db-01", "db-02")
	if _, err := st.Txn(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if r, _ := inv.Get(ctx, "db-02"); r.Hostname != "db.example.com" || r.RenamedFrom != "db-01" {
		t.Fatalf("renamed db %+v", r)
	}

	if _, err := inv.RenameOps(ctx, "web-09", "db-02"); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "db-02") {
		t.Fatalf("rename onto a taken name: %v", err)
	}
	if _, err := inv.RenameOps(ctx, "nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rename of a missing record: %v", err)
	}
}

// The ops hold only if nothing changed since they were made: a concurrent
// write to the record, or a record created under the new name, makes the
// transaction fail as a whole.
func TestRenameOpsConditional(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		change func(inv *Inventory) error
	}{
		// A change that records no event: only the record's own version
		// can make the transaction fail.
		{"record changed", func(inv *Inventory) error {
			r, _ := inv.Get(ctx, "web-01")
			r.Cpuset = "2-3"
			return inv.Put(ctx, r)
		}},
		{"record resized", func(inv *Inventory) error {
			r, _ := inv.Get(ctx, "web-01")
			r.MemoryMiB = 2048
			return inv.Put(ctx, r)
		}},
		{"record removed", func(inv *Inventory) error { return inv.Delete(ctx, "web-01") }},
		{"new name taken", func(inv *Inventory) error { return inv.Create(ctx, Record{Name: "web-09"}) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			inv, st := newInv()
			if err := inv.Create(ctx, Record{Name: "web-01", Hostname: "web-01", Status: StatusStopped, MemoryMiB: 1024}); err != nil {
				t.Fatal(err)
			}
			ops, err := inv.RenameOps(ctx, "web-01", "web-09")
			if err != nil {
				t.Fatal(err)
			}
			if err := c.change(inv); err != nil {
				t.Fatal(err)
			}
			mid, _ := st.List(ctx, "inventory/containers/")
			_, err = st.Txn(ctx, ops)
			if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrExists) {
				t.Fatalf("transaction after a concurrent change: %v, want a conflict", err)
			}
			after, _ := st.List(ctx, "inventory/containers/")
			if !reflect.DeepEqual(mid, after) {
				t.Fatalf("a failed transaction changed records:\n before %v\n after  %v", mid, after)
			}
		})
	}
}

func TestLabels(t *testing.T) {
	good := map[string]string{"team": "infra", "cost-center": "42", "a": "", "k8s.io/x_y": "v w"}
	if err := CheckLabels(good); err != nil {
		t.Fatal(err)
	}
	many := map[string]string{}
	for i := range MaxLabels + 1 {
		many[strings.Repeat("k", 1+i%60)+string(rune('a'+i/60))] = "v"
	}
	for _, bad := range []map[string]string{
		{"Team": "x"}, {"-x": "y"}, {"x-": "y"}, {"": "y"}, {"a b": "c"}, {strings.Repeat("k", 64): "v"},
		{"k": "tab\there"}, {"k": strings.Repeat("v", MaxLabelValue+1)}, many,
	} {
		if err := CheckLabels(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckLabels(%d labels, e.g. %.40v): %v", len(bad), bad, err)
		}
	}
	if err := CheckField("owner", strings.Repeat("o", MaxFieldLen+1)); !errors.Is(err, ErrInvalid) {
		t.Error("an over-long owner was accepted")
	}
	if err := CheckField("owner", "Jane Doe <jane@example.com>"); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		in, k, v string
		rm, ok   bool
	}{
		{"team=infra", "team", "infra", false, true},
		{"team=", "team", "", false, true},
		{"team-", "team", "", true, true},
		{"a=b=c", "a", "b=c", false, true},
		{"range=1-", "range", "1-", false, true},
		{"team", "", "", false, false},
	} {
		k, v, rm, err := ParseLabel(c.in)
		if k != c.k || v != c.v || rm != c.rm || (err == nil) != c.ok {
			t.Errorf("ParseLabel(%q) = %q %q %v %v", c.in, k, v, rm, err)
		}
	}
	if s := LabelString(map[string]string{"b": "2", "a": "1"}); s != "a=1,b=2" {
		t.Errorf("LabelString: %q", s)
	}
	r := Record{App: "shop", Owner: "ops", Env: "prod", Status: StatusRunning, Labels: map[string]string{"team": "infra", "tier": "web"}}
	for _, c := range []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{App: "shop", Env: "prod"}, true},
		{Filter{App: "blog"}, false},
		{Filter{Owner: "dev"}, false},
		{Filter{Status: StatusStopped}, false},
		{Filter{Labels: map[string]string{"team": "infra"}}, true},
		{Filter{Labels: map[string]string{"team": "infra", "tier": "db"}}, false},
		{Filter{Labels: map[string]string{"zone": ""}}, false}, // a label it lacks is not an empty one
	} {
		if got := c.f.Match(r); got != c.want {
			t.Errorf("%+v.Match = %v", c.f, got)
		}
	}
}
