package arp_test

import (
	"github.com/fatbox/fatbox/ipam"
	"github.com/fatbox/fatbox/ipam/arp"
)

// arp.Prober plugs into ipam.Allocator.Prober.
var _ ipam.Prober = arp.Prober{}
