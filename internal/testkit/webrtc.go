package testkit

import (
	"net"
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
