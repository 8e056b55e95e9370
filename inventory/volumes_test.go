package inventory

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/memstore"
)

func TestVolumeValidation(t *testing.T) {
	for _, good := range []string{"data1", "a", "pg-data"} {
		if err := ValidVolumeName(good); err != nil {
			t.Errorf("ValidVolumeName(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", "Data", "-x", "x-", "a/b", "a.b", strings.Repeat("a", 64)} {
		err := ValidVolumeName(bad)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "volume") {
			t.Errorf("ValidVolumeName(%q): %v, want an ErrInvalid naming the volume", bad, err)
		}
	}
	for _, good := range []string{"/var/lib/app", "/data", "/srv/x y", "/procfs", "/device", "/running", "/sys2", "/home/.fatbox"} {
		if err := CheckVolumePath("v", good); err != nil {
			t.Errorf("CheckVolumePath(%q): %v", good, err)
		}
	}
	for _, c := range []struct{ p, why string }{
		{"", "is empty"},
		{"var/lib/app", "not absolute"},
		{"/", "the container's root"},
		{"/var/lib/app/", "not clean"},
		{"/var//lib", "not clean"},
		{"/var/lib/../app", "not clean"},
		{"/./x", "not clean"},
		{"/proc", "/proc"},
		{"/proc/sys", "/proc"},
		{"/sys/fs", "/sys"},
		{"/dev", "/dev"},
		{"/dev/shm", "/dev"},
		{"/run", "/run"},
		{"/run/lock", "/run"},
		{"/.fatbox", "/.fatbox"},
		{"/.fatbox/power", "/.fatbox"},
		{"/a\nb", "control character"},
		{"/" + strings.Repeat("a", MaxVolumePath), "bytes long"},
	} {
		err := CheckVolumePath("v", c.p)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), `volume "v"`) {
			t.Errorf("CheckVolumePath(%q): %v, want an ErrInvalid saying %q", c.p, err, c.why)
		}
	}
	for _, c := range []struct {
		vms []VolumeMount
		why string
	}{
		{[]VolumeMount{{"a", "/x"}, {"a", "/y"}}, `volume "a" is asked twice`},
		{[]VolumeMount{{"a", "/x"}, {"b", "/x"}}, `both asked at "/x"`},
		{[]VolumeMount{{"A", "/x"}}, "volume name"},
		{[]VolumeMount{{"a", "/proc/x"}}, "/proc"},
		{make([]VolumeMount, MaxVolumesPerContainer+1), "at most 16"},
	} {
		if err := CheckVolumeMounts(c.vms); err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("CheckVolumeMounts(%v): %v, want %q", c.vms, err, c.why)
		}
	}
	if err := CheckVolumeMounts([]VolumeMount{{"a", "/data"}, {"b", "/data/sub"}}); err != nil {
		t.Errorf("nested paths: %v", err)
	}
	if vm, err := ParseVolumeMount("data1:/var/lib/app"); err != nil || vm != (VolumeMount{"data1", "/var/lib/app"}) {
		t.Errorf("ParseVolumeMount: %+v %v", vm, err)
	}
	for _, bad := range []string{"data1", "data1:", ":/x", "data1:rel", "Data:/x", "d:/run/x"} {
		if _, err := ParseVolumeMount(bad); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseVolumeMount(%q): %v", bad, err)
		}
	}
	got := SortVolumeMounts([]VolumeMount{{"b", "/data/sub"}, {"c", "/b"}, {"a", "/data"}})
	if got[0].Path != "/b" || got[1].Path != "/data" || got[2].Path != "/data/sub" {
		t.Errorf("SortVolumeMounts: %v", got)
	}
}

func TestVolumeRecords(t *testing.T) {
	ctx := context.Background()
	inv := &Inventory{Store: memstore.New()}
	v, err := inv.CreateVolume(ctx, Volume{Name: "data1", SizeMiB: 1024, Node: "n1"})
	if err != nil || v.ID == "" || v.CreatedAt.IsZero() {
		t.Fatalf("create: %+v %v", v, err)
	}
	if _, err := inv.CreateVolume(ctx, Volume{Name: "data1", SizeMiB: 64, Node: "n1"}); !errors.Is(err, ErrVolumeExists) || !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := inv.CreateVolume(ctx, Volume{Name: "Bad", Node: "n1"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := inv.GetVolume(ctx, "nope"); !errors.Is(err, ErrVolumeNotFound) || !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "fatbox volume create nope") {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := inv.CreateVolume(ctx, Volume{Name: "data2", SizeMiB: 64, Node: "n2"}); err != nil {
		t.Fatal(err)
	}
	vs, err := inv.ListVolumes(ctx)
	if err != nil || len(vs) != 2 || vs[0].Name != "data1" || vs[1].Name != "data2" || !vs[0].Free() {
		t.Fatalf("list: %+v %v", vs, err)
	}
	if err := inv.DeleteVolume(ctx, "data2"); err != nil {
		t.Fatal(err)
	}
	if err := inv.DeleteVolume(ctx, "data2"); !errors.Is(err, ErrVolumeNotFound) {
		t.Fatalf("delete again: %v", err)
	}
}

// Claims: one container at a time; released, moved, stale (the container's
// record is gone) counts as free; delete refused while attached.
func TestVolumeClaims(t *testing.T) {
	ctx := context.Background()
	inv := &Inventory{Store: memstore.New()}
	for _, n := range []string{"data1", "data2"} {
		if _, err := inv.CreateVolume(ctx, Volume{Name: n, SizeMiB: 64, Node: "n1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := inv.CreateVolume(ctx, Volume{Name: "far", SizeMiB: 64, Node: "n2"}); err != nil {
		t.Fatal(err)
	}
	web := Record{Name: "web-01", Node: "n1", Status: StatusCreating}
	db := Record{Name: "db-01", Node: "n1", Status: StatusCreating}
	for _, r := range []*Record{&web, &db} {
		if err := inv.Create(ctx, *r); err != nil {
			t.Fatal(err)
		}
		got, _ := inv.Get(ctx, r.Name)
		r.ID = got.ID
	}
	vms := []VolumeMount{{"data1", "/var/lib/app"}, {"data2", "/data"}}
	if err := inv.ClaimVolumes(ctx, "n1", web.ID, web.Name, vms); err != nil {
		t.Fatal(err)
	}
	v, err := inv.GetVolume(ctx, "data1")
	if err != nil || v.AttachedTo != web.ID || v.AttachedName != "web-01" || v.Path != "/var/lib/app" {
		t.Fatalf("claimed: %+v %v", v, err)
	}
	// Claiming again for the same container is fine (idempotent).
	if err := inv.ClaimVolumes(ctx, "n1", web.ID, web.Name, vms[:1]); err != nil {
		t.Fatalf("claim again: %v", err)
	}
	// Another container is refused, naming the holder and the fix.
	err = inv.ClaimVolumes(ctx, "n1", db.ID, db.Name, []VolumeMount{{"data1", "/x"}})
	if !errors.Is(err, ErrVolumeInUse) || !strings.Contains(err.Error(), `"web-01"`) || !strings.Contains(err.Error(), "fatbox rm web-01") {
		t.Fatalf("claim of an attached volume: %v", err)
	}
	// Another node's volume is refused; a missing one is not found.
	if err := inv.ClaimVolumes(ctx, "n1", db.ID, db.Name, []VolumeMount{{"far", "/x"}}); !errors.Is(err, ErrVolumeInUse) || !strings.Contains(err.Error(), `node "n2"`) {
		t.Fatalf("another node's: %v", err)
	}
	if err := inv.ClaimVolumes(ctx, "n1", db.ID, db.Name, []VolumeMount{{"nope", "/x"}}); !errors.Is(err, ErrVolumeNotFound) {
		t.Fatalf("missing: %v", err)
	}
	// A refused claim of two claims neither (all or nothing).
	if err := inv.ClaimVolumes(ctx, "n1", db.ID, db.Name, []VolumeMount{{"far", "/y"}, {"data1", "/x"}}); err == nil {
		t.Fatal("half-refused claim passed")
	}
	if err := inv.DeleteVolume(ctx, "data1"); !errors.Is(err, ErrVolumeInUse) || !strings.Contains(err.Error(), "fatbox rm web-01") {
		t.Fatalf("delete attached: %v", err)
	}
	// A rename shows in the claim as read.
	ops, err := inv.RenameOps(ctx, "web-01", "web-02")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Store.Txn(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if v, _ := inv.GetVolume(ctx, "data1"); v.AttachedName != "web-02" {
		t.Fatalf("after rename: %+v", v)
	}

	// Move (a release's switch): from web to db, in one transaction with
	// another change.
	ops, err = inv.MoveVolumeOps(ctx, vms, web.ID, db.ID, db.Name)
	if err != nil || len(ops) != 2 {
		t.Fatalf("move ops: %v %v", ops, err)
	}
	ops = append(ops, store.Op{Kind: store.OpPut, Key: "test/marker", Value: []byte("x")})
	if _, err := inv.Store.Txn(ctx, ops); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"data1", "data2"} {
		if v, _ := inv.GetVolume(ctx, n); v.AttachedTo != db.ID || v.AttachedName != "db-01" {
			t.Fatalf("moved %s: %+v", n, v)
		}
	}
	// Moving again (a retried switch) is fine; moving from a container
	// that does not hold it while a third does is refused.
	if _, err := inv.MoveVolumeOps(ctx, vms, web.ID, db.ID, db.Name); err != nil {
		t.Fatalf("move again: %v", err)
	}
	if _, err := inv.MoveVolumeOps(ctx, vms, web.ID, "someone", "x"); !errors.Is(err, ErrVolumeInUse) {
		t.Fatalf("move of another's: %v", err)
	}
	// Ops hold the versions read: a stale op fails its transaction.
	stale, err := inv.ReleaseVolumeOps(ctx, db.ID)
	if err != nil || len(stale) != 2 {
		t.Fatalf("release ops: %v %v", stale, err)
	}
	if err := inv.ClaimVolumes(ctx, "n1", db.ID, db.Name, []VolumeMount{{"data1", "/moved"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Store.Txn(ctx, stale); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale release ops: %v, want a conflict", err)
	}
	// Release frees exactly the container's volumes.
	if err := inv.ReleaseVolumes(ctx, db.ID); err != nil {
		t.Fatal(err)
	}
	if err := inv.ReleaseVolumes(ctx, db.ID); err != nil {
		t.Fatalf("release again: %v", err)
	}
	vs, _ := inv.ListVolumes(ctx)
	for _, v := range vs {
		if !v.Free() || v.Path != "" || v.AttachedName != "" {
			t.Fatalf("after release: %+v", v)
		}
	}
	// A stale claim (the container's record deleted before its claim was
	// released) reads as free, and can be claimed and deleted.
	if err := inv.ClaimVolumes(ctx, "n1", db.ID, db.Name, []VolumeMount{{"data1", "/x"}}); err != nil {
		t.Fatal(err)
	}
	if err := inv.Delete(ctx, "db-01"); err != nil {
		t.Fatal(err)
	}
	if v, err := inv.GetVolume(ctx, "data1"); err != nil || !v.Free() {
		t.Fatalf("stale claim: %+v %v", v, err)
	}
	if err := inv.ClaimVolumes(ctx, "n1", web.ID, "web-02", []VolumeMount{{"data1", "/y"}}); err != nil {
		t.Fatalf("claim over a stale claim: %v", err)
	}
	if err := inv.Delete(ctx, "web-02"); err != nil {
		t.Fatal(err)
	}
	if err := inv.DeleteVolume(ctx, "data1"); err != nil {
		t.Fatalf("delete with a stale claim: %v", err)
	}
}
