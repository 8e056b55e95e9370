package revert

import (
	"errors"
	"testing"
)

func TestReverter(t *testing.T) {
	var order []int
	var r Reverter
	r.Add(func() error { order = append(order, 1); return nil })
	r.Add(func() error { order = append(order, 2); return errors.New("two") })
	r.Add(func() error { order = append(order, 3); return nil })
	if err := r.Revert(); err == nil || err.Error() != "two" {
		t.Fatalf("Revert = %v", err)
	}
	if len(order) != 3 || order[0] != 3 || order[2] != 1 {
		t.Fatalf("order %v, want newest first and past errors", order)
	}
	r.Add(func() error { t.Fatal("released undo ran"); return nil })
	r.Release()
	if err := r.Revert(); err != nil {
		t.Fatal(err)
	}
}
