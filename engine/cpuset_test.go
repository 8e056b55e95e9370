package engine

import (
	"reflect"
	"testing"
)

func TestPickCPUs(t *testing.T) {
	for _, c := range []struct {
		online []int
		used   map[int]int
		n      int
		want   string
	}{
		{[]int{0, 1}, nil, 1, "0"},
		{[]int{0, 1}, map[int]int{0: 1}, 1, "1"},
		{[]int{0, 1}, map[int]int{0: 1}, 2, "0-1"},
		{[]int{0, 1}, nil, 4, "0-1"}, // more vCPUs than the host has: all of them
		{[]int{0, 1, 2, 3, 6}, map[int]int{1: 2, 2: 1}, 3, "0,3,6"},
		{[]int{0, 1, 2, 3}, map[int]int{0: 1, 1: 1, 2: 1, 3: 1}, 2, "0-1"},
	} {
		if got := formatCPUList(pickCPUs(c.online, c.used, c.n)); got != c.want {
			t.Errorf("pick %d of %v used %v = %q, want %q", c.n, c.online, c.used, got, c.want)
		}
	}
}

func TestCPUList(t *testing.T) {
	if got := parseCPUList("0-2,5,x,7-6,9"); !reflect.DeepEqual(got, []int{0, 1, 2, 5, 9}) {
		t.Fatalf("parse: %v", got)
	}
	if got := formatCPUList([]int{0, 1, 2, 5, 7, 8}); got != "0-2,5,7-8" {
		t.Fatalf("format: %q", got)
	}
}
