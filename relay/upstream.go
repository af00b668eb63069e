package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

// Reconnect backoff of a relay whose upstream session ended while it still has users.
const (
	backoffMin = 250 * time.Millisecond
	backoffMax = 5 * time.Second
)

// run keeps rr's upstream session while rr has users: the first connection's outcome is
// Prepare's answer; later ones (the upstream node or its publisher went away) are retried
// with backoff, the locator asked anew each time.
func (m *Manager) run(rr *roomRelay) {
	defer close(rr.done)
	log := m.log.With("room", rr.room)
	first := true
	backoff := backoffMin
	for rr.ctx.Err() == nil {
		err := m.relayOnce(rr, func() {
			if first {
				first = false
				close(rr.ready)
			}
			backoff = backoffMin
		})
		if first {
			rr.err = err
			m.mu.Lock()
			m.forget(rr)
			m.mu.Unlock()
			close(rr.ready)
			return
		}
		if rr.ctx.Err() != nil {
			return
		}
		if errors.Is(err, sfu.ErrRoomBusy) || errors.Is(err, errReplaced) {
			log.Info("room published here: relay ends", "err", err)
			m.mu.Lock()
			m.forget(rr)
			m.mu.Unlock()
			return
		}
		log.Warn("relay upstream ended; reconnecting", "err", errString(err), "after_ms", backoff.Milliseconds())
		select {
		case <-rr.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, backoffMax)
	}
}

func errString(err error) string {
	if err == nil {
		return "session closed"
	}
	return err.Error()
}

// pcWriter sends RTCP upstream on the relay's PeerConnection once it exists.
type pcWriter struct {
	pc atomic.Pointer[webrtc.PeerConnection]
}

func (w *pcWriter) WriteRTCP(pkts []rtcp.Packet) error {
	pc := w.pc.Load()
	if pc == nil {
		return errors.New("relay: upstream not connected yet")
	}
	return pc.WriteRTCP(pkts)
}

// relayOnce runs one upstream session until it ends or rr is stopped; ready is called when
// its tracks publish here. It tries the parents of the tree's choice in order, the origin
// last, until one connects.
func (m *Manager) relayOnce(rr *roomRelay, ready func()) error {
	node, base, ok, err := m.opts.Locator.Origin(rr.ctx, rr.room)
	switch {
	case err != nil:
		return fmt.Errorf("locate room %q: %w", rr.room, err)
	case !ok || node == m.opts.NodeID:
		return errNotRemote
	}
	candidates := m.parents(rr.ctx, rr, node, strings.TrimRight(base, "/"))
	for i, p := range candidates {
		connected, err := m.relayFrom(rr, p, strings.TrimRight(base, "/"), ready)
		if connected || i == len(candidates)-1 || rr.ctx.Err() != nil {
			return err
		}
		m.log.Info("relay tree: parent passed over", "room", rr.room, "parent", p.id, "reason", errString(err))
	}
	return nil // not reached: the origin is always a candidate
}

// errParentFull passes over a parent whose room info shows its fan-out used up.
var errParentFull = errors.New("its fan-out is used up")

// relayFrom runs one upstream session from parent p (originURL: the room's origin node);
// connected tells whether its tracks arrived (ready was called), else the next parent may be
// tried.
func (m *Manager) relayFrom(rr *roomRelay, p parent, originURL string, ready func()) (connected bool, err error) {
	rr.upstream.Store(&p.id)
	up, err := m.upstreamTracks(rr.ctx, p.url, rr.room)
	if err != nil {
		return false, fmt.Errorf("relay from node %s: %w", p.id, err)
	}
	video, audio := up.video, up.audio
	if p.confirm && up.relays >= p.fanout {
		return false, fmt.Errorf("relay from node %s: %w (%d relays of %d)", p.id, errParentFull, up.relays, p.fanout)
	}
	upstream := &pcWriter{}
	pub, err := m.opts.SFU.PublishRelay(rr.room, upstream)
	if err != nil {
		return false, fmt.Errorf("relay from node %s: %w", p.id, err)
	}
	defer pub.Close()
	want := video + audio
	arrived := make(chan struct{}, want)
	sess, err := client.Play(rr.ctx, p.url+"/whep/"+url.PathEscape(rr.room), m.clientOptions(rr, pub, arrived), relayKinds(video, audio)...)
	if err != nil {
		return false, fmt.Errorf("relay from node %s: %w", p.id, err)
	}
	rr.connects.Add(1)
	upstream.pc.Store(sess.PeerConnection())
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(rr.ctx), 2*time.Second)
		defer cancel()
		_ = sess.Close(ctx)
	}()
	if err := waitTracks(rr.ctx, arrived, want, m.opts.ReadyTimeout); err != nil {
		return false, fmt.Errorf("relay from node %s: %w", p.id, err)
	}
	m.log.Info("relay up", "room", rr.room, "upstream", p.id, "depth", p.depth, "video_layers", video, "audio", audio == 1, "hops", rr.hops)
	rr.link.Store(&cluster.RelayLink{Parent: p.id, Depth: p.depth})
	defer rr.link.Store(nil)
	rr.avoid = ""
	defer m.followAlternate(rr, pub, up.videoCodec, p, originURL)()
	ready()
	select {
	case <-rr.ctx.Done():
		return true, nil
	case <-sess.Done():
		if p.depth > 1 {
			rr.avoid = p.id // re-attach elsewhere: this parent may be dying
		}
		return true, errors.New("upstream session closed")
	case <-pub.Context().Done(): // a local publisher replaced the relay, or the SFU closes
		return true, errReplaced
	}
}

// waitTracks waits until want tracks arrived, or timeout with at least one.
func waitTracks(ctx context.Context, arrived <-chan struct{}, want int, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	got := 0
	for got < want {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-arrived:
			got++
		case <-deadline.C:
			if got == 0 {
				return fmt.Errorf("no media from upstream within %v", timeout)
			}
			return nil
		}
	}
	return nil
}

// relayKinds is the relay's offer: one video section per layer, then the audio.
func relayKinds(video, audio int) []webrtc.RTPCodecType {
	kinds := make([]webrtc.RTPCodecType, 0, video+audio)
	for range video {
		kinds = append(kinds, webrtc.RTPCodecTypeVideo)
	}
	if audio > 0 {
		kinds = append(kinds, webrtc.RTPCodecTypeAudio)
	}
	return kinds
}

func (m *Manager) clientOptions(rr *roomRelay, pub *sfu.RelayPublisher, arrived chan<- struct{}) client.Options {
	return client.Options{
		Token:         m.opts.Secret,
		Header:        http.Header{signaling.HopsHeader: {strconv.Itoa(rr.hops + 1)}},
		HTTPClient:    m.opts.HTTPClient,
		LoopbackOnly:  m.opts.LoopbackOnly,
		SettingEngine: m.opts.SettingEngine,
		OnTrack: func(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
			kind, rid := sfu.ParseRelayTrackID(track.ID())
			rt, err := pub.AddTrack(kind, rid, track.Codec(), uint32(track.SSRC()))
			if err != nil {
				m.log.Warn("relayed track refused", "room", rr.room, "track", track.ID(), "err", err)
				return
			}
			select {
			case arrived <- struct{}{}:
			default: // more tracks than the room info named
			}
			forwardTrack(track, receiver, rt)
		},
	}
}

// relayedTrack is where a relayed track's packets and sender reports go: one of the room's
// tracks (sfu.RelayTrack) or its alternate video (sfu.RelayAlternate).
type relayedTrack interface {
	WriteRTP(pkt []byte)
	SenderReport(sr *rtcp.SenderReport, received time.Time)
}

// forwardTrack copies a relayed track's packets and sender reports into the local room
// until the upstream session ends.
func forwardTrack(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver, rt relayedTrack) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		readSenderReports(receiver, rt)
	}()
	buf := make([]byte, 1500)
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			break
		}
		rt.WriteRTP(buf[:n])
	}
	wg.Wait()
}

func readSenderReports(receiver *webrtc.RTPReceiver, rt relayedTrack) {
	for {
		pkts, _, err := receiver.ReadRTCP()
		if err != nil {
			return
		}
		now := time.Now()
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				rt.SenderReport(sr, now)
			}
		}
	}
}

// roomInfoTimeout bounds the upstream's answer about the room (a dead parent is passed over).
const roomInfoTimeout = 3 * time.Second

// upstreamRoom is what the upstream node says of the room: the number of video layers (0
// without video) and of audio tracks (0 or 1), the video codec, and how many relays it serves.
type upstreamRoom struct {
	video, audio, relays int
	videoCodec           string // as in sfu.TrackInfo ("H264", "H265", "AV1", …)
}

// upstreamTracks asks the upstream node what the room sends.
func (m *Manager) upstreamTracks(ctx context.Context, base, room string) (upstreamRoom, error) {
	info, err := m.roomInfo(ctx, base, room)
	if err != nil {
		return upstreamRoom{}, err
	}
	if !info.Live {
		return upstreamRoom{}, errors.New("room not live there")
	}
	up := upstreamRoom{relays: info.Relays}
	for _, t := range info.Tracks {
		switch t.Kind {
		case "video":
			up.video, up.videoCodec = max(1, len(t.Layers)), t.Codec
		case "audio":
			up.audio = 1
		}
	}
	if up.video+up.audio == 0 {
		return upstreamRoom{}, errors.New("room has no tracks there")
	}
	return up, nil
}

// roomInfo is GET /api/rooms/{room} of the node at base. The request carries the cluster
// secret: with access control on, the room API needs it.
func (m *Manager) roomInfo(ctx context.Context, base, room string) (sfu.RoomInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, roomInfoTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/rooms/"+url.PathEscape(room), nil)
	if err != nil {
		return sfu.RoomInfo{}, fmt.Errorf("room info: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+m.opts.Secret)
	hc := m.opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return sfu.RoomInfo{}, fmt.Errorf("room info: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return sfu.RoomInfo{}, fmt.Errorf("room info: %s: %s", resp.Status, body)
	}
	var info sfu.RoomInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&info); err != nil {
		return sfu.RoomInfo{}, fmt.Errorf("room info: %w", err)
	}
	return info, nil
}
