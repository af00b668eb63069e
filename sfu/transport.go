package sfu

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// TransportConfig says where WebRTC media flows.
type TransportConfig struct {
	UDPPort       int      // one UDP port for every session (ICE UDP mux); 0 picks one
	ICETCP        bool     // also ICE-TCP on the same port number
	PublicIPs     []string // NAT 1:1 host candidates
	ICEIPs        []string // local IP allow-list (empty = all)
	ICEInterfaces []string // interface allow-list (empty = all)
	ReadBuffer    int      // SO_RCVBUF of the media socket
	// SendLanes is the batched sender's number of parallel queues and writers (sendLane);
	// 0 is one per core the process may use, at most 8.
	SendLanes int
	// DirectSend turns off the batched sender (batchConn): every packet is its own
	// sendto, as pion does by itself. For comparisons.
	DirectSend bool
	ICETimeout time.Duration
}

// transport owns the shared media sockets and makes a webrtc.API per session.
type transport struct {
	cfg    TransportConfig
	udp    *net.UDPConn
	batch  *batchConn // nil with DirectSend
	udpMux ice.UDPMux
	tcpMux ice.TCPMux
	log    *slog.Logger
}

func newTransport(cfg TransportConfig, log *slog.Logger) (*transport, error) {
	t := &transport{cfg: cfg, log: log}
	udp, tcp, err := listenMedia(cfg)
	if err != nil {
		return nil, err
	}
	t.udp = udp
	if err := udp.SetReadBuffer(cfg.ReadBuffer); err != nil {
		log.Warn("cannot set media socket read buffer", "bytes", cfg.ReadBuffer, "err", err)
	}
	if got, err := readBufferSize(udp); err == nil && got < cfg.ReadBuffer && forceReadBuffer(udp, cfg.ReadBuffer) != nil {
		log.Warn("media socket read buffer capped by the kernel; raise net.core.rmem_max", "asked", cfg.ReadBuffer, "got", got)
	}
	var conn net.PacketConn = udp
	if !cfg.DirectSend {
		if t.batch, err = newBatchConn(udp, cfg.SendLanes, log); err != nil {
			_ = udp.Close()
			if tcp != nil {
				_ = tcp.Close()
			}
			return nil, err
		}
		conn = t.batch
	}
	t.udpMux = webrtc.NewICEUDPMux(nil, conn)
	if tcp != nil { // the TCP mux owns the listener: closing it closes the listener
		t.tcpMux = webrtc.NewICETCPMux(nil, tcp, 64)
	}
	return t, nil
}

// listenMedia opens the media UDP socket and, with ICE-TCP, the TCP listener on the same
// port number. With UDPPort 0 the kernel picks the UDP port, whose number may be taken for
// TCP (an ephemeral port of some connection): then another UDP port is tried, a few times.
func listenMedia(cfg TransportConfig) (*net.UDPConn, *net.TCPListener, error) {
	for try := 1; ; try++ {
		udp, err := net.ListenUDP("udp", &net.UDPAddr{Port: cfg.UDPPort})
		if err != nil {
			return nil, nil, fmt.Errorf("media udp port %d: %w", cfg.UDPPort, err)
		}
		if !cfg.ICETCP {
			return udp, nil, nil
		}
		port := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.ListenTCP("tcp", &net.TCPAddr{Port: port})
		if err == nil {
			return udp, tcp, nil
		}
		_ = udp.Close()
		if cfg.UDPPort != 0 || try == 8 {
			return nil, nil, fmt.Errorf("ice-tcp port %d: %w", port, err)
		}
	}
}

// Port is the UDP (and ICE-TCP) port in use.
func (t *transport) Port() int { return t.udp.LocalAddr().(*net.UDPAddr).Port }

func (t *transport) close() {
	_ = t.udpMux.Close()
	if t.tcpMux != nil {
		_ = t.tcpMux.Close()
	}
}

// api builds a webrtc.API for one session with its own codecs and interceptors; settings
// adds the session's own settings (a viewer's SRTP key capture, sfu/srtpkeys.go).
func (t *transport) api(me *webrtc.MediaEngine, ir *interceptor.Registry, settings ...func(*webrtc.SettingEngine)) *webrtc.API {
	var se webrtc.SettingEngine
	se.SetICEUDPMux(t.udpMux)
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if t.tcpMux != nil {
		se.SetICETCPMux(t.tcpMux)
		types = append(types, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(types)
	t.applyCandidatePolicy(&se)
	disconnected := max(t.cfg.ICETimeout/3, time.Second)
	se.SetICETimeouts(disconnected, t.cfg.ICETimeout, time.Second)
	for _, set := range settings {
		set(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// applyCandidatePolicy puts the node's ICE candidate choices on se: loopback included, no
// mDNS, NAT 1:1 public IPs, the --ice-ip and --ice-interface allow-lists. Sessions and the
// node's own outgoing connections (relays to other nodes) share them.
func (t *transport) applyCandidatePolicy(se *webrtc.SettingEngine) {
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	if len(t.cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(t.cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	if len(t.cfg.ICEIPs) > 0 {
		allowed := make([]netip.Addr, 0, len(t.cfg.ICEIPs))
		for _, s := range t.cfg.ICEIPs {
			if a, err := netip.ParseAddr(s); err == nil {
				allowed = append(allowed, a.Unmap())
			}
		}
		se.SetIPFilter(func(ip net.IP) bool {
			a, ok := netip.AddrFromSlice(ip)
			return ok && slices.Contains(allowed, a.Unmap())
		})
	}
	if len(t.cfg.ICEInterfaces) > 0 {
		se.SetInterfaceFilter(func(name string) bool { return slices.Contains(t.cfg.ICEInterfaces, name) })
	}
}

// negotiateTransportCC offers the transport-wide sequence header extension for audio and
// video without pion's interceptor that writes it: with --viewer-bwe gcc the estimator's
// own interceptor (sfu/gcc) numbers the packets, allocation-free.
func negotiateTransportCC(me *webrtc.MediaEngine) error {
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return fmt.Errorf("transport-cc header extension for %s: %w", kind, err)
		}
	}
	return nil
}
