package arp

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
)

const (
	ethHdrLen     = 14
	arpLen        = 28 // Ethernet/IPv4 ARP payload
	minFrame      = 60 // minimum Ethernet frame without FCS; ARP frames are padded to it
	etherTypeARP  = 0x0806
	etherTypeIPv4 = 0x0800
	hwEthernet    = 1

	opRequest = 1
	opReply   = 2
)

var (
	broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	zeroMAC      = net.HardwareAddr{0, 0, 0, 0, 0, 0}
)

// packet is the Ethernet/IPv4 ARP payload of a frame.
type packet struct {
	op       uint16
	sha, tha net.HardwareAddr
	spa, tpa netip.Addr
}

// frame builds an Ethernet frame carrying p, from src to dst, padded to 60 bytes.
func frame(dst, src net.HardwareAddr, p packet) []byte {
	b := make([]byte, minFrame)
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:14], etherTypeARP)
	a := b[ethHdrLen:]
	binary.BigEndian.PutUint16(a[0:2], hwEthernet)
	binary.BigEndian.PutUint16(a[2:4], etherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], p.op)
	copy(a[8:14], p.sha)
	spa, tpa := p.spa.As4(), p.tpa.As4()
	copy(a[14:18], spa[:])
	copy(a[18:24], p.tha)
	copy(a[24:28], tpa[:])
	return b
}

// parseFrame decodes an Ethernet frame holding an Ethernet/IPv4 ARP request or
// reply. ok is false for anything else. The addresses alias b.
func parseFrame(b []byte) (p packet, ok bool) {
	if len(b) < ethHdrLen+arpLen || binary.BigEndian.Uint16(b[12:14]) != etherTypeARP {
		return p, false
	}
	a := b[ethHdrLen:]
	if binary.BigEndian.Uint16(a[0:2]) != hwEthernet || binary.BigEndian.Uint16(a[2:4]) != etherTypeIPv4 ||
		a[4] != 6 || a[5] != 4 {
		return p, false
	}
	p.op = binary.BigEndian.Uint16(a[6:8])
	if p.op != opRequest && p.op != opReply {
		return p, false
	}
	p.sha = net.HardwareAddr(a[8:14])
	p.spa = netip.AddrFrom4([4]byte(a[14:18]))
	p.tha = net.HardwareAddr(a[18:24])
	p.tpa = netip.AddrFrom4([4]byte(a[24:28]))
	return p, true
}

// conflicts applies RFC 5227 section 2.1.1 to a packet heard while probing for
// ip from the interface with hardware address self: any ARP request or reply
// whose sender IP is ip means somebody uses it; an ARP probe (sender IP
// 0.0.0.0) for ip from another hardware address means somebody else is about to.
func conflicts(p packet, ip netip.Addr, self net.HardwareAddr) bool {
	if p.spa == ip {
		return true
	}
	return p.op == opRequest && p.spa.IsUnspecified() && p.tpa == ip && !bytes.Equal(p.sha, self)
}
