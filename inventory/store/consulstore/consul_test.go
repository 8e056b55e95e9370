package consulstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/consulstore"
	"github.com/fatbox/fatbox/inventory/store/storetest"
	"github.com/fatbox/fatbox/test/harness"
)

func TestMain(m *testing.M) {
	storetest.MaybeChild()
	os.Exit(m.Run())
}

func open(t *testing.T, url string) *consulstore.Store {
	t.Helper()
	cfg, err := consulstore.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := consulstore.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuite(t *testing.T) {
	c := harness.StartConsul(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		// Each test gets its own prefix, so each starts empty.
		return open(t, c.URL(fmt.Sprintf("suite%d", n.Add(1))))
	})
}

func TestCrossProcess(t *testing.T) {
	c := harness.StartConsul(t)
	url := c.URL("xproc")
	storetest.RunCrossProcess(t, url, open(t, url))
}

func TestUnreachable(t *testing.T) {
	port := harness.FreePort(t) // nothing listens there
	cfg := consulstore.Config{Address: fmt.Sprintf("127.0.0.1:%d", port)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := consulstore.Open(ctx, cfg)
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "cannot reach Consul at 127.0.0.1:") ||
		!strings.Contains(err.Error(), "start the Consul agent") {
		t.Fatalf("unreachable Consul: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    consulstore.Config
		wantErr string
	}{
		{in: "consul://10.0.0.1:8500/fatbox", want: consulstore.Config{Address: "10.0.0.1:8500", Prefix: "fatbox"}},
		{in: "consul://h:1/a/b?token=t&scheme=https", want: consulstore.Config{Address: "h:1", Prefix: "a/b", Token: "t", Scheme: "https"}},
		{in: "consul://h:1/?colour=red", wantErr: "unknown parameter \"colour\""},
		{in: "consul://h:1/?scheme=ftp", wantErr: "use http or https"},
		{in: "etcd://h:1/", wantErr: "scheme is \"etcd\""},
	} {
		got, err := consulstore.ParseURL(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseURL(%q) = %v, want error containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
