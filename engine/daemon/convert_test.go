package daemon

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/fatbox/fatbox/baseimages"
	"github.com/fatbox/fatbox/engine"
	"github.com/fatbox/fatbox/engine/api"
	"github.com/fatbox/fatbox/inventory"
	"github.com/fatbox/fatbox/ipam"
)

var (
	timeType   = reflect.TypeOf(time.Time{})
	addrType   = reflect.TypeOf(netip.Addr{})
	prefixType = reflect.TypeOf(netip.Prefix{})
)

// fill sets every exported field of v (recursively) to a non-zero value,
// each leaf a different one, so a swapped pair of fields shows.
func fill(v reflect.Value, seed *int) {
	*seed++
	n := *seed
	switch v.Type() {
	case timeType:
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, n%60, n, time.UTC)))
		return
	case addrType:
		v.Set(reflect.ValueOf(netip.AddrFrom4([4]byte{198, 18, byte(n >> 8), byte(n)})))
		return
	case prefixType:
		v.Set(reflect.ValueOf(netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(n), 0}), 24)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(n) + 0.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(v.Index(0), seed)
		fill(v.Index(1), seed)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, seed)
		fill(e, seed)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), seed)
			}
		}
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

func filled[T any]() T {
	var v T
	seed := 0
	fill(reflect.ValueOf(&v).Elem(), &seed)
	return v
}

// zeroFields lists the exported fields of v (recursively, through
// pointers, slices and embedded structs) that hold their zero value.
func zeroFields(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		return zeroFields(v.Elem(), path)
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		var out []string
		for i := range v.Len() {
			out = append(out, zeroFields(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	case reflect.Struct:
		if t := v.Type(); t == timeType || t == addrType || t == prefixType {
			break
		}
		var out []string
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() {
				out = append(out, zeroFields(v.Field(i), path+"."+f.Name)...)
			}
		}
		return out
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}

// sameFields compares every field of dst with the field of the same name
// in src (through their JSON forms, so api.Range and ipam.Range compare),
// and returns the names of src's fields that dst lacks.
func sameFields(t *testing.T, what string, src, dst any) (notInDst []string) {
	t.Helper()
	sv, dv := reflect.ValueOf(src), reflect.ValueOf(dst)
	for i := range dv.NumField() {
		f := dv.Type().Field(i)
		if !f.IsExported() || f.Anonymous {
			continue
		}
		s := sv.FieldByName(f.Name)
		if !s.IsValid() {
			continue // dst's own field; callers check it
		}
		if s.Kind() != dv.Field(i).Kind() {
			continue // reshaped on purpose (a cause struct flattened); callers check it
		}
		a, _ := json.Marshal(s.Interface())
		b, _ := json.Marshal(dv.Field(i).Interface())
		if string(a) != string(b) {
			t.Errorf("%s: field %s is %s, want %s", what, f.Name, b, a)
		}
	}
	for i := range sv.NumField() {
		f := sv.Type().Field(i)
		if f.IsExported() && !f.Anonymous {
			if _, ok := dv.Type().FieldByName(f.Name); !ok {
				notInDst = append(notInDst, f.Name)
			}
		}
	}
	sort.Strings(notInDst)
	return notInDst
}

func noZero(t *testing.T, what string, v any) {
	t.Helper()
	if z := zeroFields(reflect.ValueOf(v), what); len(z) > 0 {
		t.Errorf("zero after converting a fully populated value: %v (a field the conversion forgets?)", z)
	}
}

func sameSet(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: fields not carried over %v, want exactly %v (add a new field to the wire type and the conversion, or to this list with a reason)", what, got, want)
	}
}

func TestToContainer(t *testing.T) {
	r := filled[inventory.Record]()
	c := toContainer(r)
	noZero(t, "api.Container", c)
	// DiskGiB is only read from old records (decode turns it into DiskMiB);
	// LeaseOrigin is the engine's note for undoing a create.
	sameSet(t, "inventory.Record -> api.Container", sameFields(t, "toContainer", r, c), "DiskGiB", "LeaseOrigin")

	cs := toContainers([]inventory.Record{r, filled[inventory.Record]()})
	if len(cs) != 2 || !reflect.DeepEqual(cs[0], c) {
		t.Fatalf("toContainers: %+v", cs)
	}
	if out := toContainers(nil); out == nil || len(out) != 0 {
		t.Fatalf("toContainers(nil) = %#v: an empty list must be [] in JSON, not null", out)
	}
}

func TestToContainerInfo(t *testing.T) {
	in := filled[engine.Info]()
	out := toContainerInfo(in)
	noZero(t, "api.ContainerInfo", out)
	sameSet(t, "engine.Info -> api.ContainerInfo", sameFields(t, "toContainerInfo", in, out))
	if !reflect.DeepEqual(out.Container, toContainer(in.Record)) {
		t.Fatalf("the embedded record differs from toContainer's")
	}
}

func TestFromCreateRequest(t *testing.T) {
	r := filled[api.CreateRequest]()
	out := fromCreateRequest(r)
	noZero(t, "engine.CreateRequest", out)
	sameSet(t, "api.CreateRequest -> engine.CreateRequest", sameFields(t, "fromCreateRequest", r, out))
	sameSet(t, "engine.CreateRequest -> api.CreateRequest", sameFields(t, "reverse", out, r))
	if autostart := fromCreateRequest(api.CreateRequest{}).Autostart; autostart != nil {
		t.Fatalf("autostart left out became %v, want nil (the engine's default)", *autostart)
	}
}

func TestToLeaseAndGC(t *testing.T) {
	l := filled[ipam.Lease]()
	out := toLease(l)
	noZero(t, "api.Lease", out)
	sameSet(t, "ipam.Lease -> api.Lease", sameFields(t, "toLease", l, out), "Version") // the store's CAS version
	gc := filled[ipam.GCResult]()
	g := toGCResult(gc)
	noZero(t, "api.GCResult", g)
	if len(g.Orphans) != 2 || g.Orphans[1] != toLease(gc.Orphans[1]) || g.Released[0] != toLease(gc.Released[0]) {
		t.Fatalf("toGCResult: %+v", g)
	}
	if out := toLeases(nil); out == nil {
		t.Fatal("toLeases(nil) is nil: [] in JSON expected")
	}
}

func TestToImage(t *testing.T) {
	i := filled[baseimages.Image]()
	out := toImage(i)
	noZero(t, "api.Image", out)
	sameSet(t, "baseimages.Image -> api.Image", sameFields(t, "toImage", i, out))
	for k := range i.Programs {
		sameSet(t, "baseimages.Program -> api.Program", sameFields(t, "toImage program", i.Programs[k], out.Programs[k]))
	}
	if out := toImages(nil); out == nil {
		t.Fatal("toImages(nil) is nil: [] in JSON expected")
	}
}

// testPool is a valid pool with every field set.
func testPool() ipam.Pool {
	q := ipam.Duration(90 * time.Minute)
	return ipam.Pool{
		Name: "prod", CIDR: netip.MustParsePrefix("198.18.0.0/24"), Gateway: netip.MustParseAddr("198.18.0.1"),
		Ranges:       []ipam.Range{{Start: netip.MustParseAddr("198.18.0.10"), End: netip.MustParseAddr("198.18.0.99")}},
		Reserved:     []netip.Addr{netip.MustParseAddr("198.18.0.20")},
		Bridge:       "br-prod",
		CreateBridge: true, VLAN: 42, Uplink: "eth1", MTU: 9000, Quarantine: &q, Deleting: true, Syslog: "tcp://10.0.0.5:514",
	}
}

// A pool survives the trip to the wire and back whole; toPool adds what
// only answers carry.
func TestPoolRoundTrip(t *testing.T) {
	p := testPool()
	noZero(t, "the test's ipam.Pool (give a new field a value here)", p)
	w := toPool(p)
	noZero(t, "api.Pool", w)
	sameSet(t, "ipam.Pool -> api.Pool", sameFields(t, "toPool", p, w))
	if w.Capacity != p.Capacity() || w.Capacity == 0 {
		t.Errorf("capacity %d, want %d", w.Capacity, p.Capacity())
	}
	back := fromPool(w)
	// Deleting is state the daemon reports, never a request's to set.
	if back.Deleting {
		t.Errorf("fromPool carried deleting from a request")
	}
	want := p
	want.Deleting = false
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("fromPool(toPool(p)):\n got %+v\nwant %+v", back, want)
	}
	// No quarantine given keeps the default, rather than pinning 24h.
	if fromPool(api.Pool{Name: "x"}).Quarantine != nil {
		t.Error("a pool without quarantine got one")
	}
	zero := api.Duration(0)
	if q := fromPool(api.Pool{Quarantine: &zero}).Quarantine; q == nil || *q != 0 {
		t.Error("quarantine 0 (none) was lost")
	}
	// An answer always says the pool's quarantine, the default included.
	p.Quarantine = nil
	if q := toPool(p).Quarantine; q == nil || time.Duration(*q) != ipam.DefaultQuarantine {
		t.Errorf("default quarantine answered as %v", q)
	}
	if out := toPools(nil); out == nil {
		t.Fatal("toPools(nil) is nil: [] in JSON expected")
	}
}

func TestFromUpdateRequest(t *testing.T) {
	r := filled[api.UpdateRequest]()
	out := fromUpdateRequest(r)
	noZero(t, "engine.UpdateRequest", out)
	sameSet(t, "api.UpdateRequest -> engine.UpdateRequest", sameFields(t, "fromUpdateRequest", r, out))
	sameSet(t, "engine.UpdateRequest -> api.UpdateRequest", sameFields(t, "reverse", out, r))
	// A field left out stays nil: "leave it", never "set it to zero".
	if z := fromUpdateRequest(api.UpdateRequest{}); z.CPUs != nil || z.MemoryBytes != nil || z.Owner != nil {
		t.Fatalf("an empty update sets fields: %+v", z)
	}
}

func TestToEvent(t *testing.T) {
	ev := filled[inventory.Event]()
	out := toEvent(ev)
	noZero(t, "api.Event", out)
	// The cause is flattened; the record is the wire's container.
	sameSet(t, "inventory.Event -> api.Event", sameFields(t, "toEvent", ev, out), "Record")
	if out.Cause != ev.Cause.Kind || *out.CauseUID != *ev.Cause.UID || !reflect.DeepEqual(out.Container, toContainer(ev.Record)) {
		t.Fatalf("toEvent: %+v", out)
	}
}

func TestToVolume(t *testing.T) {
	in := filled[engine.VolumeInfo]()
	out := toVolume(in)
	noZero(t, "api.Volume", out)
	sameSet(t, "engine.VolumeInfo -> api.Volume", sameFields(t, "toVolume", in, out))
	if out := toVolumes(nil); out == nil || len(out) != 0 {
		t.Fatalf("toVolumes(nil) = %#v: an empty list must be [] in JSON, not null", out)
	}
	vms := filled[inventory.Record]().Volumes
	if back := fromVolumeMounts(toVolumeMounts(vms)); !reflect.DeepEqual(back, vms) {
		t.Fatalf("volume mounts there and back: %v, want %v", back, vms)
	}
}
