package sfu_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// srTiming is a test publisher's timing: its audio leaves lag after capture (its reports say
// when the audio was captured, which its arrival does not), and its NTP clock runs skew
// ahead of the SFU's.
type srTiming struct{ lag, skew time.Duration }

// captures records every test packet's capture time on the publisher's clock, by counter.
type captures struct {
	mu    sync.Mutex
	next  uint32
	times map[uint32]time.Time
	phase map[uint32]int
}

func (c *captures) add(at time.Time, phase int) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	c.times[c.next], c.phase[c.next] = at, phase
	return c.next
}

func (c *captures) get(n uint32) (time.Time, int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.times[n]
	return at, c.phase[n], ok
}

// srPublisher is a WHIP publisher on pion without pion's report interceptors: it sends its
// own sender reports with a known relation, video RTP = vbase + 90 kHz × (capture − t0) and
// audio RTP = abase + 48 kHz × (capture − t0), with the timing tm.
type srPublisher struct {
	pc           *webrtc.PeerConnection
	http         *http.Client
	location     string
	video, audio *webrtc.TrackLocalStaticRTP
	vssrc, assrc uint32
	t0           time.Time
	vbase, abase uint32
	tm           srTiming
	stop         context.CancelFunc
	wg           sync.WaitGroup
}

func startSRPublisher(t *testing.T, ctx context.Context, whip string, caps *captures, phase int, tm srTiming) *srPublisher {
	t.Helper()
	me := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	video := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: testnode.H264Codec().SDPFmtpLine, RTCPFeedback: fb}, PayloadType: 102}
	audio := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}
	if err := errors.Join(me.RegisterCodec(video, webrtc.RTPCodecTypeVideo), me.RegisterCodec(audio, webrtc.RTPCodecTypeAudio)); err != nil {
		t.Fatal(err)
	}
	pc := newPeer(t, me, &interceptor.Registry{}, testkit.LoopbackSettingEngine())
	p := &srPublisher{pc: pc, t0: time.Now(), tm: tm, vbase: rand.Uint32(), abase: rand.Uint32(),
		http: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	t.Cleanup(p.close)
	p.video, _ = webrtc.NewTrackLocalStaticRTP(testnode.H264Codec(), "video", "sr")
	p.audio, _ = webrtc.NewTrackLocalStaticRTP(audio.RTPCodecCapability, "audio", "sr")
	var senders []*webrtc.RTPSender
	for _, tr := range []webrtc.TrackLocal{p.video, p.audio} {
		x, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			t.Fatal(err)
		}
		senders = append(senders, x.Sender())
	}
	for _, s := range senders {
		p.wg.Go(func() {
			for {
				if _, _, err := s.ReadRTCP(); err != nil {
					return
				}
			}
		})
	}
	if err := p.negotiate(ctx, whip); err != nil {
		t.Fatalf("whip: %v", err)
	}
	p.vssrc = uint32(senders[0].GetParameters().Encodings[0].SSRC)
	p.assrc = uint32(senders[1].GetParameters().Encodings[0].SSRC)
	testkit.Eventually(t, ctx, "the publisher connected", func() bool { return pc.ConnectionState() == webrtc.PeerConnectionStateConnected })
	sendCtx, stop := context.WithCancel(ctx)
	p.stop = stop
	p.wg.Go(func() { p.send(sendCtx, caps, phase) })
	return p
}

func (p *srPublisher) negotiate(ctx context.Context, whip string) error {
	loc, err := testnode.Negotiate(ctx, p.http, p.pc, whip)
	p.location = loc
	return err
}

// rtpAt is a track's RTP time for capture time at, by the publisher's relation.
func (p *srPublisher) rtpAt(at time.Time, rate int64, base uint32) uint32 {
	return base + uint32(int64(at.Sub(p.t0))*rate/int64(time.Second))
}

// send sends 30 fps video (a keyframe every 10 frames), 20 ms audio frames tm.lag after
// their capture, and a sender report per track every 200 ms and after each track's first
// packet, until ctx ends.
func (p *srPublisher) send(ctx context.Context, caps *captures, phase int) {
	var vseq, aseq = uint16(rand.Uint32()), uint16(rand.Uint32())
	nextVideo, nextAudio, nextSR := p.t0, p.t0, p.t0
	frames := 0
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		sentFirst := false
		if !now.Before(nextVideo) {
			n := caps.add(now, phase)
			payload := []byte{0x41, 0, 0, 0, 0, 0xaa, 0xbb}
			if frames%10 == 0 {
				payload[0] = 0x67
			}
			binary.BigEndian.PutUint32(payload[1:], n)
			_ = p.video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: vseq, Timestamp: p.rtpAt(now, 90000, p.vbase)}, Payload: payload})
			sentFirst = frames == 0
			vseq++
			frames++
			nextVideo = nextVideo.Add(33 * time.Millisecond)
		}
		if captured := now.Add(-p.tm.lag); !captured.Before(nextAudio) {
			n := caps.add(nextAudio, phase)
			payload := []byte{0xfc, 0, 0, 0, 0}
			binary.BigEndian.PutUint32(payload[1:], n)
			_ = p.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: p.rtpAt(nextAudio, 48000, p.abase)}, Payload: payload})
			sentFirst = sentFirst || nextAudio.Equal(p.t0)
			aseq++
			nextAudio = nextAudio.Add(20 * time.Millisecond)
		}
		if sentFirst || !now.Before(nextSR) {
			now = time.Now()
			ntp := ntpOf(now.Add(p.tm.skew)) // its own clock: the relation holds on the SFU's
			_ = p.pc.WriteRTCP([]rtcp.Packet{
				&rtcp.SenderReport{SSRC: p.vssrc, NTPTime: ntp, RTPTime: p.rtpAt(now, 90000, p.vbase)},
				&rtcp.SenderReport{SSRC: p.assrc, NTPTime: ntp, RTPTime: p.rtpAt(now, 48000, p.abase)},
			})
			if !now.Before(nextSR) {
				nextSR = now.Add(200 * time.Millisecond)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// close DELETEs the resource and closes the connection. Safe to call more than once.
func (p *srPublisher) close() {
	if p.stop != nil {
		p.stop()
	}
	if p.location != "" {
		req, _ := http.NewRequest(http.MethodDelete, p.location, nil)
		if resp, err := p.http.Do(req); err == nil {
			resp.Body.Close()
		}
		p.location = ""
	}
	_ = p.pc.Close()
	p.wg.Wait()
}

func ntpOf(t time.Time) uint64 {
	secs := uint64(t.Unix()) + 2208988800
	return secs<<32 | uint64(t.Nanosecond())<<32/1_000_000_000
}

func ntpSecs(ntp uint64) float64 { return float64(ntp>>32) + float64(ntp&0xffffffff)/(1<<32) }

// srEvent is what the viewer got, in arrival order: a packet (counter, RTP time) or a
// sender report.
type srEvent struct {
	kind    string
	isSR    bool
	counter uint32
	ts      uint32
	ntp     float64
}

type srViewer struct {
	mu     sync.Mutex
	events []srEvent
}

func (v *srViewer) add(e srEvent) {
	v.mu.Lock()
	v.events = append(v.events, e)
	v.mu.Unlock()
}

func (v *srViewer) snapshot() []srEvent {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]srEvent(nil), v.events...)
}

func (v *srViewer) onTrack(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	kind := track.Kind().String()
	var wg sync.WaitGroup
	defer wg.Wait() // the receiver stops with the session, which ends ReadRTCP
	wg.Go(func() {
		for {
			pkts, _, err := recv.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == uint32(track.SSRC()) {
					v.add(srEvent{kind: kind, isSR: true, ts: sr.RTPTime, ntp: ntpSecs(sr.NTPTime)})
				}
			}
		}
	})
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		if len(pkt.Payload) >= 5 {
			v.add(srEvent{kind: kind, counter: binary.BigEndian.Uint32(pkt.Payload[1:]), ts: pkt.Timestamp})
		}
	}
}

// srMatch is one viewer report checked against the publisher's relation: delta is the
// report's wall time for the latest packet of its kind received before it, minus that
// packet's capture time; phase is the publisher that packet came from.
type srMatch struct {
	kind  string
	phase int
	delta float64
	ntp   float64
}

// matchReports checks every report against the latest packet of its kind. (Which publisher's
// packet makes no difference to a right report: the SFU's outgoing timeline runs on across
// a reconnect, so one report maps the packets before and after it alike, within jitter.)
func matchReports(t *testing.T, events []srEvent, caps *captures) []srMatch {
	t.Helper()
	type last struct {
		ts    uint32
		at    time.Time
		phase int
	}
	latest := map[string]*last{}
	rates := map[string]float64{"video": 90000, "audio": 48000}
	var out []srMatch
	for _, e := range events {
		if !e.isSR {
			at, phase, ok := caps.get(e.counter)
			if !ok {
				t.Fatalf("%s packet with unknown counter %d", e.kind, e.counter)
			}
			latest[e.kind] = &last{e.ts, at, phase}
			continue
		}
		if l := latest[e.kind]; l != nil {
			wall := e.ntp + float64(int32(l.ts-e.ts))/rates[e.kind]
			capture := float64(l.at.UnixNano())/1e9 + 2208988800
			out = append(out, srMatch{kind: e.kind, phase: l.phase, delta: wall - capture, ntp: e.ntp})
		}
	}
	return out
}

// TestViewerReportsCarryThePublishersTiming: a WHIP publisher with its own sender reports
// (audio sent 80 ms after capture, so arrival-based reports would put the audio 80 ms late)
// and a WHEP viewer that maps each RTP timestamp it gets to a wall time through the SFU's
// reports: every report maps the packets to their capture times (within 20 ms: the SFU's
// estimate of the publisher's clock), audio and video through the same offset (within
// 5 ms), also after the publisher reconnects with new SSRCs and RTP bases, an audio lag of
// 30 ms and an NTP clock 3 s ahead of the SFU's (reports that went on from the first
// publisher's timing would be 50 ms off for audio; ones that took its NTP as is, 3 s).
func TestViewerReportsCarryThePublishersTiming(t *testing.T) {
	// Lip sync is imperceptible within ±15 ms; on a loaded 2-core machine under the race detector
	// one track's least-delayed receipt can come ~10 ms later than the other's.
	const tolerance, avTolerance = 0.020, 0.015
	ctx := testkit.Context(t, 40*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	caps := &captures{times: map[uint32]time.Time{}, phase: map[uint32]int{}}
	first := startSRPublisher(t, ctx, srv.WHIP("lips"), caps, 0, srTiming{lag: 80 * time.Millisecond})
	testkit.Eventually(t, ctx, "both tracks in the room", func() bool {
		info, ok := srv.SFU.Room("lips")
		return ok && info.Live && len(info.Tracks) == 2
	})
	v := &srViewer{}
	opts := client.Options{LoopbackOnly: true}
	opts.OnTrack = v.onTrack
	sess, err := client.Play(ctx, srv.WHEP("lips"), opts)
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	if err := sess.Connected(ctx); err != nil {
		t.Fatal(err)
	}
	waitReports := func(phase int) {
		t.Helper()
		for {
			n := map[string]int{}
			for _, m := range matchReports(t, v.snapshot(), caps) {
				n[fmt.Sprint(m.kind, m.phase)]++
			}
			if n[fmt.Sprint("video", phase)] >= 3 && n[fmt.Sprint("audio", phase)] >= 3 {
				return
			}
			select {
			case <-ctx.Done():
				pkts := map[string]int{}
				for _, e := range v.snapshot() {
					if _, ph, ok := caps.get(e.counter); ok && !e.isSR {
						pkts[fmt.Sprint(e.kind, ph)]++
					}
				}
				t.Fatalf("timed out waiting for 3 reports per track of publisher %d: reports by kind and publisher %v, packets %v", phase, n, pkts)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	waitReports(0)
	first.close()
	srv.WaitNotLive(t, ctx, "lips")
	second := startSRPublisher(t, ctx, srv.WHIP("lips"), caps, 1, srTiming{lag: 30 * time.Millisecond, skew: 3 * time.Second})
	if second.vssrc == first.vssrc || second.vbase == first.vbase {
		t.Fatal("the second publisher has the first one's SSRC or RTP base")
	}
	waitReports(1)
	second.close()
	_ = sess.Close(ctx)

	matches := matchReports(t, v.snapshot(), caps)
	worst := map[string]float64{}
	var lastV, lastA *srMatch
	for i, m := range matches {
		worst[m.kind] = max(worst[m.kind], math.Abs(m.delta))
		if math.Abs(m.delta) > tolerance {
			t.Errorf("report %d (%s, publisher %d): maps packets %+.1f ms from their capture, want within ±%.0f ms",
				i, m.kind, m.phase, m.delta*1000, tolerance*1000)
		}
		if m.kind == "video" {
			lastV = &matches[i]
		} else {
			lastA = &matches[i]
		}
		// Reports of one tick go out together: audio and video must agree.
		if lastV != nil && lastA != nil && lastV.phase == lastA.phase && math.Abs(lastV.ntp-lastA.ntp) < 0.05 {
			if d := lastA.delta - lastV.delta; math.Abs(d) > avTolerance {
				t.Errorf("reports at %.3f: audio − video %+.1f ms, want within ±%.0f ms", m.ntp, d*1000, avTolerance*1000)
			}
		}
	}
	t.Logf("%d reports checked; worst |offset from capture|: video %.2f ms, audio %.2f ms", len(matches), worst["video"]*1000, worst["audio"]*1000)
}
