package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/sfu/gcc"
)

// egress sends a viewer connection's RTP itself, once the connection is up: each packet is
// marshalled once, numbered with the transport-wide sequence (gcc mode), encrypted with
// the connection's own SRTP keys (from the DTLS handshake, sfu/srtpkeys.go; sealed by
// sfu/srtpgcm for the GCM profiles, pion's srtp.Context for AES-CM: sfu/egressseal.go)
// straight into a buffer of the batched sender, and queued for the selected candidate
// pair's remote address. None of pion's write chain runs per packet — the interceptors,
// the SRTP session's pool and locks, the DTLS mux endpoint, the ICE connection and its
// clock readings, the UDP mux connection — and the sender's queue gets the buffer rather
// than a copy. Pion keeps everything else of the connection: ICE (its checks and
// keep-alives on the same socket), DTLS, SRTCP (sender reports, feedback) and reading.
//
// It runs only where it can stand in for pion's path completely: with Glint's own
// estimator or none (gcc or remb; pion's estimator must see its packets), with the
// batched sender, on a connection where the SFU was the DTLS server (the keys are known)
// and whose selected pair goes out of the UDP mux socket. Elsewhere the viewer's packets
// go through pion as before. Every packet of an SSRC goes out one way or the other, from
// the first on: the choice is made before the downtracks start.
type egress struct {
	keys srtpKeys
	conn *batchConn
	bwe  *viewerBWE
	log  *slog.Logger
	lost func() // the selected pair moved off the mux socket: the session must end

	once  sync.Once
	taken atomic.Bool                    // start took the connection's RTP over, for good
	addr  atomic.Pointer[netip.AddrPort] // where it goes; nil once the pair left the mux socket

	mu   sync.Mutex     // one packet at a time through the sealer
	seal packetSealer   // the connection's SRTP encryption (sfu/egressseal.go)
	est  *gcc.Estimator // numbers the packets (gcc mode), nil in remb mode
	twcc [2]byte        // the transport-wide sequence extension's bytes
}

var (
	errPacketTooLarge = errors.New("egress: packet larger than the send buffer")
	errEgressStopped  = errors.New("egress: stopped")
)

func newEgress(conn *batchConn, bwe *viewerBWE, log *slog.Logger, lost func()) *egress {
	return &egress{conn: conn, bwe: bwe, log: log, lost: lost}
}

// running reports whether the connection's packets go out here (from start on, even once
// the session is ending: they are never handed back to pion's SRTP session).
func (e *egress) running() bool { return e.taken.Load() }

// start takes over the connection's RTP if it can (see egress); called when the
// connection is up, before its downtracks start. Only the first call decides: packets
// that went through pion's SRTP session are never continued here.
func (e *egress) start(pc *webrtc.PeerConnection) { e.once.Do(func() { e.takeOver(pc) }) }

func (e *egress) takeOver(pc *webrtc.PeerConnection) {
	seal, err := e.keys.localSealer()
	if err != nil {
		e.log.Debug("egress through pion: no SRTP keys of our own", "err", err)
		return
	}
	ice := pc.SCTP().Transport().ICETransport()
	pair, err := ice.GetSelectedCandidatePair()
	addr, ok := muxDestination(pair)
	if err != nil || !ok {
		e.log.Debug("egress through pion: the selected pair is not on the UDP mux", "pair", pair, "err", err)
		return
	}
	e.mu.Lock()
	e.seal = seal
	if est := e.bwe.estimator.Load(); est != nil {
		e.est, _ = (*est).(*gcc.Estimator)
	}
	e.mu.Unlock()
	e.addr.Store(&addr)
	e.taken.Store(true)
	ice.OnSelectedCandidatePairChange(e.pairChanged)
	e.log.Debug("egress: the SFU sends the viewer's RTP itself", "to", addr)
}

// pairChanged follows ICE to a new selected pair; a pair off the mux socket cannot be
// sent on here, and pion's SRTP session does not know the packet indexes sent so far, so
// the session ends (the player reconnects).
func (e *egress) pairChanged(pair *webrtc.ICECandidatePair) {
	if !e.running() {
		return
	}
	if addr, ok := muxDestination(pair); ok {
		e.addr.Store(&addr)
		e.log.Debug("egress: selected pair changed", "to", addr)
		return
	}
	e.log.Warn("egress: the selected pair left the UDP mux; ending the session", "pair", pair)
	e.addr.Store(nil)
	if e.lost != nil {
		go e.lost()
	}
}

// muxDestination returns the remote address of a UDP pair whose local side is a host
// candidate (the UDP mux socket, possibly under a NAT 1:1 address).
func muxDestination(pair *webrtc.ICECandidatePair) (netip.AddrPort, bool) {
	if pair == nil || pair.Local == nil || pair.Remote == nil ||
		pair.Local.Protocol != webrtc.ICEProtocolUDP || pair.Remote.Protocol != webrtc.ICEProtocolUDP ||
		pair.Local.Typ != webrtc.ICECandidateTypeHost {
		return netip.AddrPort{}, false
	}
	ip, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), pair.Remote.Port), true
}

// writeRTP sends one packet of the connection; twccID is the stream's transport-wide
// sequence extension id (0: not negotiated). h gets that extension, as pion's chain would
// have set it. The batched sender counts the packet's transit as stamp says.
func (e *egress) writeRTP(h *rtp.Header, payload []byte, twccID uint8, stamp sendStamp) error {
	addr := e.addr.Load()
	if addr == nil {
		return errEgressStopped
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.est != nil && twccID != 0 {
		if err := e.est.Number(h, twccID, e.twcc[:], e.est.NextSequence(), len(payload), time.Now()); err != nil {
			return err
		}
	}
	// The packet is built in the sender's buffer: the header marshalled into it, the payload
	// encrypted into it after the header (the sealer's output is that buffer when it fits).
	lane := e.conn.lane(*addr)
	buf := lane.bufs.take()
	headerLen, err := h.MarshalTo(buf[:])
	if err == nil && headerLen+len(payload) > len(buf) {
		err = errPacketTooLarge
	}
	if err != nil {
		lane.bufs.give(buf)
		return fmt.Errorf("egress: marshal: %w", err)
	}
	out, err := e.seal.seal(buf[:], headerLen, payload, h)
	if err != nil {
		lane.bufs.give(buf)
		return fmt.Errorf("egress: encrypt: %w", err)
	}
	if len(out) > len(buf) || &out[0] != &buf[0] { // no room for the tag: the sealer made its own
		lane.bufs.give(buf)
		_, err = e.conn.queueCopy(out, *addr, stamp)
		return err
	}
	return lane.queueOwned(buf, len(out), *addr, stamp)
}
