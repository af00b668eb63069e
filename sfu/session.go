package sfu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Role says whether a session publishes into a room or plays it.
type Role string

// The two session roles.
const (
	RolePublisher Role = "publisher"
	RoleViewer    Role = "viewer"
)

// Session is one WHIP or WHEP resource: a PeerConnection in a room. Closing it stops every
// goroutine it started.
type Session struct {
	ID      string
	Room    string
	Role    Role
	Created time.Time

	pc     *webrtc.PeerConnection
	room   *Room
	sfu    *SFU
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	viewerPlace bool // a viewer admitted by reserveViewer: forget gives the place back

	srcClock  srcClock // a publisher's NTP clock on the SFU's (its sender reports)
	fromRelay bool     // a publisher that relays the room from another node (PublishRelay)
	local     bool     // an in-process publisher (PublishLocal: RTMP/SRT ingest)

	relaysAlternate bool // a relay subscriber of the room's alternate video (SubscribeRelayAlternate)

	egress *egress // a viewer's own egress (sfu/egress.go); nil: pion sends its packets

	mu    sync.Mutex
	ups   []*UpTrack
	downs []*DownTrack
	etag  string

	closeOnce sync.Once
	closed    chan struct{}
}

func newSessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.closed }

// ETag identifies the session's current ICE credentials (RFC 9725 §4.3.1).
func (s *Session) ETag() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.etag
}

func (s *Session) setETagFromSDP(sdp string) {
	ufrag := sdpAttribute(sdp, "ice-ufrag")
	s.mu.Lock()
	s.etag = `"` + s.ID[:8] + "-" + ufrag + `"`
	s.mu.Unlock()
}

func sdpAttribute(sdp, key string) string {
	for _, line := range strings.Split(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a="+key+":"); ok {
			return v
		}
	}
	return ""
}

func (s *Session) upTracks() []*UpTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*UpTrack(nil), s.ups...)
}

// DownTracks returns the viewer's downtracks.
func (s *Session) DownTracks() []*DownTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*DownTrack(nil), s.downs...)
}

// SetMaxLayer caps the simulcast layer of a viewer's video ("" lifts the cap).
func (s *Session) SetMaxLayer(rid string) {
	for _, d := range s.DownTracks() {
		if d.isVideo {
			d.SetMaxLayer(rid)
		}
	}
}

func (s *Session) usesSlot(sl *slot) bool {
	for _, d := range s.DownTracks() {
		if d.slot == sl {
			return true
		}
	}
	return false
}

// go runs f as a goroutine owned by the session.
func (s *Session) goOwned(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Close ends the session: the PeerConnection is closed, the room forgets it, and Close
// returns when every goroutine of the session has stopped. Safe to call more than once.
func (s *Session) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		if s.pc != nil {
			if err := s.pc.Close(); err != nil {
				s.log.Debug("close peer connection", "err", err)
			}
		}
		s.sfu.forget(s)
		s.wg.Wait()
		close(s.closed)
		s.log.Info("session closed")
	})
}

// watchState closes the session when ICE/DTLS fail or the connection closes.
func (s *Session) watchState() {
	s.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.log.Debug("connection state", "state", st.String())
		switch st {
		case webrtc.PeerConnectionStateConnected:
			if s.egress != nil {
				s.egress.start(s.pc)
			}
			for _, d := range s.DownTracks() {
				d.start()
			}
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go s.Close() // not from inside pion's callback
		}
	})
}

// answer applies the remote offer, lets prepare add tracks, and returns the local answer
// once ICE gathering is done (host candidates on the mux come at once).
func (s *Session) answer(ctx context.Context, offerSDP string, prepare func() error) (string, error) {
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}); err != nil {
		if s.sfu.isClosed() {
			// The node shut down while answering (its sessions' ICE agents closed): not the
			// offer's fault; the caller may try again, elsewhere (503, not 400).
			return "", ErrClosed
		}
		return "", &SDPError{Reason: firstLine(err.Error())}
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return "", err
		}
	}
	ans, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(3 * time.Second):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	local := s.pc.LocalDescription()
	if local == nil {
		return "", errors.New("no local description")
	}
	s.setETagFromSDP(local.SDP)
	return local.SDP, nil
}
