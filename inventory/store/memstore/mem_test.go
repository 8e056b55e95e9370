package memstore_test

import (
	"testing"

	"github.com/fatbox/fatbox/inventory/store"
	"github.com/fatbox/fatbox/inventory/store/memstore"
	"github.com/fatbox/fatbox/inventory/store/storetest"
)

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
}
