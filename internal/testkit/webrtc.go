package testkit

import (
	"net"
	"sync/atomic"
	"testing"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// LoopbackSettingEngine returns the SettingEngine of a test peer: UDP4 host candidates on
// 127.0.0.1 only, mDNS off and no STUN (a Configuration without ICE servers), which is what
// client.Options.LoopbackOnly does for the Glint client.
func LoopbackSettingEngine() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	loopback := net.IPv4(127, 0, 0, 1)
	se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(loopback) })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return se
}

// LoopbackUDP returns a UDP socket on 127.0.0.1 (for a test peer's own ICE mux), closed at
// the end of the test.
func LoopbackUDP(t testing.TB) *net.UDPConn {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = udp.Close() })
	return udp
}

// PionOffer is a real offer from a pion PeerConnection with pion's default codecs: one
// transceiver of direction dir per kind, no ICE candidates (nothing is gathered).
func PionOffer(t testing.TB, dir webrtc.RTPTransceiverDirection, kinds ...webrtc.RTPCodecType) string {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// LossyConn drops the next Drop inbound datagrams larger than MinSize once armed (Drop set):
// a lossy last mile for one peer only (its ICE mux's socket).
type LossyConn struct {
	net.PacketConn
	MinSize int
	Drop    atomic.Int32
	Dropped atomic.Int32
}

// ReadFrom reads the next datagram that is not dropped.
func (c *LossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || n < c.MinSize || c.Drop.Load() <= 0 {
			return n, addr, err
		}
		c.Drop.Add(-1)
		c.Dropped.Add(1)
	}
}
