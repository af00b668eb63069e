package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// maxBodyBytes bounds how much of a server's answer is read.
const maxBodyBytes = 1 << 20

// cleanupTimeout bounds the DELETE sent when a session fails half-way.
const cleanupTimeout = 2 * time.Second

// Session is one WHIP publisher or WHEP viewer: a PeerConnection plus the
// resource URL the server created for it. Close ends both.
type Session struct {
	proto      string // "whip" or "whep", for error messages
	pc         *webrtc.PeerConnection
	httpClient *http.Client
	ownsClient bool // httpClient was made here; its idle connections close with the session
	token      string
	header     http.Header
	onTrack    func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
	onRTCP     func(webrtc.TrackLocal, []rtcp.Packet)
	location   string // set once by negotiate, read-only afterwards

	connected     chan struct{} // closed when the state first becomes connected
	connectedOnce sync.Once
	done          chan struct{} // closed when the state becomes failed or closed
	doneOnce      sync.Once
	finalState    webrtc.PeerConnectionState // written before done is closed

	mu      sync.Mutex // guards closing and wg.Add
	closing bool
	wg      sync.WaitGroup // goroutines this session started

	closeOnce sync.Once
	closeErr  error
}

// Publish sends tracks to a WHIP endpoint: it offers them sendonly, waits
// for ICE gathering to complete, POSTs the offer and applies the answer.
// Consecutive tracks with the same ID and stream ID and an RID each are the
// simulcast encodings of one sender, in that order (the offer then carries
// the mid and rid header extensions; the caller's packets must carry them
// too). ctx bounds only this exchange, not the session; end it with Close.
func Publish(ctx context.Context, whipURL string, tracks []webrtc.TrackLocal, opts Options) (*Session, error) {
	s, err := newSession("whip", opts, slices.ContainsFunc(tracks, func(t webrtc.TrackLocal) bool { return t.RID() != "" }))
	if err != nil {
		return nil, fmt.Errorf("whip: %w", err)
	}
	if err := s.addTracks(tracks); err != nil {
		_ = s.shutdown()
		return nil, fmt.Errorf("whip: %w", err)
	}
	if err := s.negotiate(ctx, whipURL); err != nil {
		return nil, fmt.Errorf("whip: %w", err)
	}
	return s, nil
}

// Play receives media from a WHEP endpoint: it offers one recvonly
// transceiver per kind (video and audio when kinds is empty) and exchanges
// the SDP like Publish. Remote tracks go to opts.OnTrack.
func Play(ctx context.Context, whepURL string, opts Options, kinds ...webrtc.RTPCodecType) (*Session, error) {
	if len(kinds) == 0 {
		kinds = []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio}
	}
	s, err := newSession("whep", opts, false)
	if err != nil {
		return nil, fmt.Errorf("whep: %w", err)
	}
	for _, kind := range kinds {
		_, err := s.pc.AddTransceiverFromKind(kind,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		if err != nil {
			_ = s.shutdown()
			return nil, fmt.Errorf("whep: add %s transceiver: %w", kind, err)
		}
	}
	if err := s.negotiate(ctx, whepURL); err != nil {
		return nil, fmt.Errorf("whep: %w", err)
	}
	return s, nil
}

func newSession(proto string, opts Options, simulcast bool) (*Session, error) {
	pc, err := newPeerConnection(opts, simulcast)
	if err != nil {
		return nil, err
	}
	s := &Session{
		proto:      proto,
		pc:         pc,
		httpClient: opts.HTTPClient,
		token:      opts.Token,
		header:     opts.Header,
		onTrack:    opts.OnTrack,
		onRTCP:     opts.OnRTCP,
		connected:  make(chan struct{}),
		done:       make(chan struct{}),
	}
	if s.httpClient == nil {
		// A client of its own, so that Close can drop its keep-alive
		// connection and no goroutine outlives the session.
		transport := http.DefaultTransport.(*http.Transport).Clone()
		s.httpClient = &http.Client{Transport: transport, CheckRedirect: s.followRedirect}
		s.ownsClient = true
	}
	pc.OnConnectionStateChange(s.onStateChange)
	pc.OnTrack(s.handleTrack)
	return s, nil
}

// Location is the absolute URL of the session's resource on the server.
func (s *Session) Location() string { return s.location }

// PeerConnection is the underlying pion PeerConnection. Do not replace its
// OnConnectionStateChange or OnTrack handlers; the session relies on them.
func (s *Session) PeerConnection() *webrtc.PeerConnection { return s.pc }

// Done is closed when the connection fails or is closed (by either side).
func (s *Session) Done() <-chan struct{} { return s.done }

// Connected waits until the PeerConnection is connected. It fails when the
// connection fails or closes first, or when ctx ends.
func (s *Session) Connected(ctx context.Context) error {
	select {
	case <-s.connected:
		return nil
	default:
	}
	select {
	case <-s.connected:
		return nil
	case <-s.done:
		return fmt.Errorf("%s: peer connection %s before connecting", s.proto, s.finalState)
	case <-ctx.Done():
		return fmt.Errorf("%s: waiting for connection: %w", s.proto, ctx.Err())
	}
}

// Close DELETEs the session's resource on the server, then closes the
// PeerConnection and waits for the session's goroutines. It is idempotent:
// later calls return the first call's result. The PeerConnection is closed
// even when the DELETE fails.
func (s *Session) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.location != "" {
			if err := s.deleteResource(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: delete %s: %w", s.proto, s.location, err))
			}
		}
		if err := s.shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("%s: close peer connection: %w", s.proto, err))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Session) onStateChange(state webrtc.PeerConnectionState) {
	switch state {
	case webrtc.PeerConnectionStateConnected:
		s.connectedOnce.Do(func() { close(s.connected) })
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		s.doneOnce.Do(func() {
			s.finalState = state
			close(s.done)
		})
	default:
	}
}

// goTracked runs fn in a goroutine that Close waits for; it does nothing
// once the session is closing.
func (s *Session) goTracked(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// addTracks adds a sendonly transceiver per track, or per run of simulcast
// encodings (see Publish), and starts reading each track's RTCP.
func (s *Session) addTracks(tracks []webrtc.TrackLocal) error {
	var transceiver *webrtc.RTPTransceiver
	for i, track := range tracks {
		var err error
		if i > 0 && sameSimulcastSender(tracks[i-1], track) {
			err = transceiver.Sender().AddEncoding(track)
		} else {
			transceiver, err = s.pc.AddTransceiverFromTrack(track,
				webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		}
		if err != nil {
			return fmt.Errorf("add track %q (rid %q): %w", track.ID(), track.RID(), err)
		}
		s.readRTCP(transceiver.Sender(), track)
	}
	return nil
}

// sameSimulcastSender says whether track is the next simulcast encoding of prev's sender.
func sameSimulcastSender(prev, track webrtc.TrackLocal) bool {
	return prev.RID() != "" && track.RID() != "" && prev.ID() == track.ID() && prev.StreamID() == track.StreamID()
}

// readRTCP reads the RTCP about track from its sender, so that the sender's
// interceptors (NACK responder, sender reports, TWCC) run, and hands it to
// OnRTCP. Reading fails once the PeerConnection closes.
func (s *Session) readRTCP(sender *webrtc.RTPSender, track webrtc.TrackLocal) {
	read := sender.Read
	if rid := track.RID(); rid != "" {
		read = func(b []byte) (int, interceptor.Attributes, error) { return sender.ReadSimulcast(b, rid) }
	}
	s.goTracked(func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := read(buf)
			if err != nil {
				return
			}
			if s.onRTCP == nil {
				continue
			}
			if pkts, err := rtcp.Unmarshal(buf[:n]); err == nil {
				s.onRTCP(track, pkts)
			}
		}
	})
}

// handleTrack hands a remote track to the caller's OnTrack, or drains it.
// It runs in a goroutine of pion's; the work runs in a tracked one.
func (s *Session) handleTrack(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	s.goTracked(func() {
		if s.onTrack != nil {
			s.onTrack(track, receiver)
			return
		}
		buf := make([]byte, 1500)
		for {
			if _, _, err := track.Read(buf); err != nil {
				return
			}
		}
	})
}

// shutdown closes the PeerConnection and waits for the session's goroutines.
func (s *Session) shutdown() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	err := s.pc.GracefulClose()
	s.wg.Wait()
	if s.ownsClient {
		s.httpClient.CloseIdleConnections()
	}
	return err
}

// negotiate makes the offer, waits for ICE gathering, exchanges it with the
// server and applies the answer. On failure the session is torn down (and
// its resource deleted if the server created one).
func (s *Session) negotiate(ctx context.Context, endpoint string) error {
	err := s.exchange(ctx, endpoint)
	if err == nil {
		return nil
	}
	cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = s.Close(cleanupCtx) // the exchange error is the one worth reporting
	return err
}

func (s *Session) exchange(ctx context.Context, endpoint string) error {
	offer, err := s.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	local, err := GatherLocal(ctx, s.pc, offer)
	if err != nil {
		return err
	}

	answer, location, err := s.postOffer(ctx, endpoint, local)
	if err != nil {
		return err
	}
	s.location = location
	err = s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
	if err != nil {
		return fmt.Errorf("set remote description: %w", err)
	}
	return nil
}

// postOffer POSTs the SDP offer and returns the answer and the absolute
// resource URL. Any status but 201 is an *HTTPError.
func (s *Session) postOffer(ctx context.Context, endpoint, offer string) (answer, location string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(offer))
	if err != nil {
		return "", "", fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Accept", "application/sdp")
	s.authorize(req)
	resp, err := s.httpClient.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("post offer: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return "", "", fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("post offer to %s: %w", endpoint,
			&HTTPError{Status: resp.StatusCode, Body: string(body)})
	}
	// Relative to where the answer came from: a redirected offer (307 to the room's node)
	// has its session there.
	location, err = resolveLocation(resp.Request.URL.String(), resp.Header.Get("Location"))
	if err != nil {
		return "", "", err
	}
	return string(body), location, nil
}

// resolveLocation turns the Location header into an absolute URL, resolving
// a relative one against the endpoint the offer was sent to.
func resolveLocation(endpoint, location string) (string, error) {
	if location == "" {
		return "", errors.New("answer has no Location header")
	}
	base, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("parse endpoint %q: %w", endpoint, err)
	}
	ref, err := url.Parse(location)
	if err != nil {
		return "", fmt.Errorf("parse Location %q: %w", location, err)
	}
	return base.ResolveReference(ref).String(), nil
}

// deleteResource ends the session on the server; any 2xx is success.
func (s *Session) deleteResource(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.location, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	s.authorize(req)
	resp, err := s.httpClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if resp.StatusCode/100 != 2 {
		return &HTTPError{Status: resp.StatusCode, Body: string(body)}
	}
	return nil
}

// followRedirect follows a server's redirect of an offer (a cluster sends a publish to the
// room's node with 307) keeping the bearer token, which net/http drops on a change of host.
func (s *Session) followRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	s.authorize(req)
	return nil
}

func (s *Session) authorize(req *http.Request) {
	for k, v := range s.header {
		req.Header[k] = v
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
}

// GatherLocal sets desc (an offer or an answer) as pc's local description and waits, until
// ctx ends, for ICE gathering to complete: WHIP and WHEP exchange whole SDPs, candidates
// included. It returns the local SDP.
func GatherLocal(ctx context.Context, pc *webrtc.PeerConnection, desc webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("gathering ICE candidates: %w", ctx.Err())
	}
	return pc.LocalDescription().SDP, nil
}
