package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

// The upstream's alternate video. An H.265 or AV1 room's origin also sends an H.264 version
// of its video to viewers whose browsers lack the codec (sfu.PublishAlternate, made by the
// origin's LL-HLS ladder). While the relay's upstream (the origin, or a parent edge that
// relays it already) has one, the relay keeps a second upstream session that carries only
// it (a WHEP play with one H.264 video section and signaling.AlternateHeader) and publishes
// it as the local room's alternate (sfu.RelayPublisher.PublishAlternate), so an H.264-only
// viewer here plays it here, and a deeper edge of the tree gets it from this one. A second
// session rather than a second m-section of the relay's own: the alternate comes and goes
// with the origin's ladder, and adding or dropping it must not renegotiate (or interrupt)
// the room's own tracks. Until it has arrived the local room names the origin's WHEP URL
// (sfu.RelayPublisher.SetAlternateAt), where a viewer that waited in vain is sent.

// alternateCheckPeriod is how often a relay of an H.265/AV1 room asks its upstream whether
// it has the alternate video (it appears once the origin's ladder runs, and goes with it).
const alternateCheckPeriod = 2 * time.Second

// alternateFollower keeps a relay's local room's alternate video in step with the
// upstream's, for one upstream session of the relay (relayFrom).
type alternateFollower struct {
	m          *Manager
	rr         *roomRelay
	pub        *sfu.RelayPublisher
	parent     parent
	originWHEP string
	log        *slog.Logger

	ctx     context.Context
	session context.CancelFunc // ends the running alternate session (nil: none)
	fmtp    string             // the SDP format it asks for
	wg      sync.WaitGroup
}

// followAlternate keeps pub's room's alternate video current while the relay of an
// H.265/AV1 room runs from parent p (videoCodec: the room's, as the upstream named it;
// originURL: the room's origin node): asked once before it returns, so the viewer that
// started the relay waits for the alternate rather than being refused, then every
// alternateCheckPeriod until the returned stop. Rooms whose video every browser decodes
// have no alternate.
func (m *Manager) followAlternate(rr *roomRelay, pub *sfu.RelayPublisher, videoCodec string, p parent, originURL string) (stop func()) {
	if videoCodec != "H265" && videoCodec != "AV1" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(rr.ctx)
	f := &alternateFollower{m: m, rr: rr, pub: pub, parent: p, ctx: ctx,
		originWHEP: originURL + "/whep/" + url.PathEscape(rr.room),
		log:        m.log.With("room", rr.room, "upstream", p.id, "codec", videoCodec)}
	f.check()
	f.wg.Go(func() {
		tick := time.NewTicker(alternateCheckPeriod)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				f.check()
			}
		}
	})
	return func() { cancel(); f.wg.Wait() }
}

// check asks the upstream whether it has the alternate, and starts or ends the alternate's
// session to match. An unanswered question changes nothing (the relay's own session
// notices a dead upstream).
func (f *alternateFollower) check() {
	info, err := f.m.roomInfo(f.ctx, f.parent.url, f.rr.room)
	if err != nil || f.ctx.Err() != nil {
		return
	}
	has := info.Alternate != nil
	if f.session != nil && (!has || info.Alternate.Fmtp != f.fmtp) {
		f.session()
		f.session, f.fmtp = nil, ""
		f.pub.SetAlternateAt("", "")
		f.log.Info("relay: the upstream's H.264 alternate video ended", "changed", has)
	}
	if has && f.session == nil {
		fmtp := info.Alternate.Fmtp
		f.pub.SetAlternateAt(f.originWHEP, fmtp)
		ctx, cancel := context.WithCancel(f.ctx)
		f.session, f.fmtp = cancel, fmtp
		f.wg.Go(func() { f.keep(ctx, fmtp) })
		f.log.Info("relay: relaying the upstream's H.264 alternate video", "fmtp", fmtp)
	}
}

// keep runs the alternate's upstream session until ctx ends, reconnecting with backoff.
func (f *alternateFollower) keep(ctx context.Context, fmtp string) {
	backoff := backoffMin
	for ctx.Err() == nil {
		started := time.Now()
		err := f.relayOnce(ctx, fmtp)
		if ctx.Err() != nil || f.pub.Context().Err() != nil {
			return
		}
		if time.Since(started) > backoffMax {
			backoff = backoffMin
		}
		f.log.Warn("relay: alternate video upstream ended; reconnecting", "err", errString(err), "after_ms", backoff.Milliseconds())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, backoffMax)
	}
}

// relayOnce runs one upstream session of the alternate video (H.264 with the upstream's
// fmtp) until it ends or ctx does; the track it brings is the local room's alternate.
func (f *alternateFollower) relayOnce(ctx context.Context, fmtp string) error {
	upstream := &pcWriter{}
	opts := client.Options{
		Token: f.m.opts.Secret,
		Header: http.Header{
			signaling.HopsHeader:      {strconv.Itoa(f.rr.hops + 1)},
			signaling.AlternateHeader: {"1"},
		},
		HTTPClient:    f.m.opts.HTTPClient,
		LoopbackOnly:  f.m.opts.LoopbackOnly,
		SettingEngine: f.m.opts.SettingEngine,
		Codecs: []webrtc.RTPCodecParameters{{PayloadType: 102, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp}}},
		OnTrack: func(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
			alt, err := f.pub.PublishAlternate(track.Codec(), uint32(track.SSRC()), upstream)
			if err != nil {
				f.log.Warn("relay: relayed alternate video refused", "err", err)
				return
			}
			defer alt.Close()
			forwardTrack(track, receiver, alt)
		},
	}
	whep := f.parent.url + "/whep/" + url.PathEscape(f.rr.room)
	sess, err := client.Play(ctx, whep, opts, webrtc.RTPCodecTypeVideo)
	if err != nil {
		return fmt.Errorf("alternate video from node %s: %w", f.parent.id, err)
	}
	upstream.pc.Store(sess.PeerConnection())
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = sess.Close(closeCtx)
	}()
	select {
	case <-ctx.Done():
		return nil
	case <-f.pub.Context().Done():
		return nil
	case <-sess.Done():
		return errors.New("alternate video upstream session closed")
	}
}
