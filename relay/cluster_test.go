package relay_test

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/stats"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/relay"
	"github.com/glint-video/glint/signaling"
)

const secret = "node-to-node-secret"

// routes is the test's locator: per asking node, the node each room comes from (a tree).
type routes struct {
	mu   sync.Mutex
	urls map[string]string            // node → base URL
	from map[string]map[string]string // asking node → room → upstream node
}

func newRoutes() *routes {
	return &routes{urls: map[string]string{}, from: map[string]map[string]string{}}
}

// route makes node relay room from upstream.
func (r *routes) route(node, room, upstream string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.from[node] == nil {
		r.from[node] = map[string]string{}
	}
	r.from[node][room] = upstream
}

// locator is one node's view of the routes.
type locator struct {
	r    *routes
	node string
}

func (l locator) Origin(_ context.Context, room string) (string, string, bool, error) {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	up, ok := l.r.from[l.node][room]
	if !ok {
		return "", "", false, nil
	}
	return up, l.r.urls[up], true, nil
}

// clusterNode is a test node with its relay manager.
type clusterNode struct {
	*testnode.Node
	Relays *relay.Manager
}

// startNode starts a node named name in the routes, with relays lingering for linger; more
// changes the relay options.
func startNode(t testing.TB, r *routes, name string, linger time.Duration, more ...func(*relay.Options)) *clusterNode {
	t.Helper()
	cn := &clusterNode{}
	cn.Node = testnode.Start(t, testnode.Options{Metrics: true, Signaling: func(o *signaling.Options) {
		opts := relay.Options{SFU: o.SFU, Locator: locator{r, name}, NodeID: name, Secret: secret,
			Linger: linger, LoopbackOnly: true, Logger: o.Logger.With("node", name)}
		for _, f := range more {
			f(&opts)
		}
		m, err := relay.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		o.ClusterSecret, o.Relays, cn.Relays = secret, m, m
	}})
	t.Cleanup(cn.Relays.Close) // runs before the node's own cleanup closes the SFU
	cn.Relays.Register(cn.Mux)
	r.mu.Lock()
	r.urls[name] = cn.URL
	r.mu.Unlock()
	return cn
}

// simulcastRIDs are the layers of the test publisher, lowest first.
var simulcastRIDs = []string{"l", "m", "h"}

// simPublisher publishes three H.264 layers (one packet a frame, a keyframe every 30
// frames) whose payloads carry the layer, the frame number and the send time.
type simPublisher struct {
	Session  *client.Session
	tracks   map[string]*webrtc.TrackLocalStaticRTP
	mid, rid uint8 // header extension ids of the offer
	seq      map[string]uint16
	frame    int
	last     atomic.Int64   // frame, for other goroutines
	start    time.Time      // RTP time 0 of every track
	packets  map[string]int // packets a frame per layer (default 1)
}

func startSimPublisher(t testing.TB, ctx context.Context, whip string) *simPublisher {
	t.Helper()
	p := &simPublisher{tracks: map[string]*webrtc.TrackLocalStaticRTP{}, seq: map[string]uint16{}, start: time.Now()}
	var tracks []webrtc.TrackLocal
	for _, rid := range []string{"h", "m", "l"} {
		tr, err := webrtc.NewTrackLocalStaticRTP(testnode.H264Codec(), "video", "sim", webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		p.tracks[rid] = tr
		tracks = append(tracks, tr)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(testnode.OpusCodec(), "audio", "sim")
	if err != nil {
		t.Fatal(err)
	}
	p.tracks["audio"] = audio
	tracks = append(tracks, audio)
	sess, err := client.Publish(ctx, whip, tracks, client.Options{LoopbackOnly: true, Codecs: []webrtc.RTPCodecParameters{
		{RTPCodecCapability: testnode.H264Codec(), PayloadType: 102},
		{RTPCodecCapability: testnode.OpusCodec(), PayloadType: 111},
	}})
	if err != nil {
		t.Fatalf("simulcast publish: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	if err := sess.Connected(ctx); err != nil {
		t.Fatal(err)
	}
	sdp := sess.PeerConnection().LocalDescription().SDP
	p.Session = sess
	p.mid, p.rid = extmapID(t, sdp, "urn:ietf:params:rtp-hdrext:sdes:mid"), extmapID(t, sdp, "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id")
	return p
}

func extmapID(t testing.TB, sdp, uri string) uint8 {
	t.Helper()
	for _, line := range strings.Split(sdp, "\n") {
		var id uint8
		var got string
		if n, _ := fmt.Sscanf(strings.TrimSpace(line), "a=extmap:%d %s", &id, &got); n == 2 && got == uri {
			return id
		}
	}
	t.Fatalf("no extmap %s in the offer", uri)
	return 0
}

// framePayload is packet i of frame n of layer rid sent at sent: NAL type (SPS for a
// keyframe's first packet, a non-IDR slice otherwise), the layer, the frame number, the
// send time; size bytes.
func framePayload(rid string, n, i, size int, sent time.Time) []byte {
	b := make([]byte, size)
	b[0] = 0x41
	if n%30 == 0 && i == 0 {
		b[0] = 0x67
	}
	b[1] = rid[0]
	binary.BigEndian.PutUint32(b[2:], uint32(n))
	binary.BigEndian.PutUint64(b[6:], uint64(sent.UnixNano()))
	return b
}

// parseFrame reads framePayload's fields.
func parseFrame(b []byte) (rid byte, n int, sent time.Time, ok bool) {
	if len(b) < 14 {
		return 0, 0, time.Time{}, false
	}
	return b[1], int(binary.BigEndian.Uint32(b[2:])), time.Unix(0, int64(binary.BigEndian.Uint64(b[6:]))), true
}

// sendFrame sends the next frame on every layer and an audio packet, with RTP timestamps
// of the send time (so that the publisher's sender reports map them exactly).
func (p *simPublisher) sendFrame(t testing.TB) int {
	p.frame++
	now := time.Now()
	elapsed := now.Sub(p.start)
	for _, rid := range simulcastRIDs {
		count, size := max(1, p.packets[rid]), 200
		if count > 1 {
			size = 1100
		}
		for i := range count {
			p.seq[rid]++
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == count-1, SequenceNumber: p.seq[rid],
				Timestamp: uint32(elapsed * 90000 / time.Second)}, Payload: framePayload(rid, p.frame, i, size, now)}
			_ = pkt.Header.SetExtension(p.mid, []byte("0"))
			_ = pkt.Header.SetExtension(p.rid, []byte(rid))
			if err := p.tracks[rid].WriteRTP(pkt); err != nil {
				t.Errorf("write layer %s: %v", rid, err)
			}
		}
	}
	p.seq["audio"]++
	apkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: p.seq["audio"], Timestamp: uint32(elapsed * 48000 / time.Second)},
		Payload: testnode.AudioPayload(p.frame)}
	if err := p.tracks["audio"].WriteRTP(apkt); err != nil {
		t.Errorf("write audio: %v", err)
	}
	p.last.Store(int64(p.frame))
	return p.frame
}

// stream sends frames at 30 fps until ctx ends or count frames went out.
func (p *simPublisher) stream(t testing.TB, ctx context.Context, count int) {
	tk := time.NewTicker(33 * time.Millisecond)
	defer tk.Stop()
	for range count {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		p.sendFrame(t)
	}
}

// frameViewer is a pion WHEP viewer that records, per frame number, when it arrived and the
// capture (send) time it carries.
type frameViewer struct {
	Session *client.Session
	mu      sync.Mutex
	frames  map[int]time.Duration // frame → capture-to-arrival latency
	sent    map[int]time.Time     // frame → capture (send) time
	ts      map[int]uint32        // frame → RTP timestamp as received
	reports []*rtcp.SenderReport  // the video track's sender reports
	heardAt []int                 // per report, the newest frame received when it came
	newest  int                   // the newest frame received
	audio   int
	video   int // video packets
	first   int // the first frame received
}

func startFrameViewer(t *testing.T, ctx context.Context, whep string, opts client.Options) *frameViewer {
	t.Helper()
	v := &frameViewer{frames: map[int]time.Duration{}, sent: map[int]time.Time{}, ts: map[int]uint32{}}
	opts.LoopbackOnly = true
	opts.OnTrack = func(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
		if track.Kind() == webrtc.RTPCodecTypeVideo {
			go v.readReports(receiver)
		}
		for {
			pkt, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			now := time.Now()
			v.mu.Lock()
			if track.Kind() == webrtc.RTPCodecTypeAudio {
				v.audio++
			} else if _, n, sent, ok := parseFrame(pkt.Payload); ok {
				v.video++
				if _, dup := v.frames[n]; !dup {
					v.frames[n], v.sent[n], v.ts[n] = now.Sub(sent), sent, pkt.Timestamp
				}
				v.newest = max(v.newest, n)
				if v.first == 0 || n < v.first {
					v.first = n
				}
			}
			v.mu.Unlock()
		}
	}
	sess, err := client.Play(ctx, whep, opts)
	if err != nil {
		t.Fatalf("play %s: %v", whep, err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("viewer connect: %v", err)
	}
	v.Session = sess
	return v
}

// readReports keeps the sender reports of the video track until the session ends.
func (v *frameViewer) readReports(receiver *webrtc.RTPReceiver) {
	for {
		pkts, _, err := receiver.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				v.mu.Lock()
				v.reports, v.heardAt = append(v.reports, sr), append(v.heardAt, v.newest)
				v.mu.Unlock()
			}
		}
	}
}

// reportErrors are, for each frame from..to the viewer got, the difference between the
// frame's capture time and the time the viewer's sender reports map its RTP time to, sorted
// (false: no report yet). A report maps the frames of the timeline it was sent for (a
// layer switch rebases the outgoing timestamps on the wall clock, and the SFU's next report
// follows), so each maps only the timeline of the newest frame when it arrived; one that
// came within 10 frames of a timeline's change may describe the other side (a report and
// the packets sent before it reach the viewer on separate paths) and is left out. Of the later half of the reports (the SFU's clock offset of a publisher is the least
// receipt − NTP so far: reports made during the joins' CPU burst carry that burst's
// delay), the one whose errors have the median median is used: the test's publisher stamps
// a frame just before pion's report interceptor notes its send time, so a stall of its
// goroutine on a loaded machine puts that one report's pair off by the stall, and the
// SFU's reports follow the publisher's.
func (v *frameViewer) reportErrors(from, to int) ([]time.Duration, bool) {
	byReport := v.errorsByReport(from, to)
	byReport = byReport[len(byReport)/2:]
	if len(byReport) == 0 {
		return nil, false
	}
	slices.SortFunc(byReport, func(a, b []time.Duration) int { return cmp.Compare(stats.Quantile(a, 0.5), stats.Quantile(b, 0.5)) })
	return byReport[(len(byReport)-1)/2], true
}

// errorsByReport are the mappingErrors of each report, in the order they arrived, over the
// frames from..to of its timeline (see reportErrors), for the reports that map any.
func (v *frameViewer) errorsByReport(from, to int) [][]time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	starts := v.timelineStarts(from, to)
	var byReport [][]time.Duration
	for i, sr := range v.reports {
		heard := v.heardAt[i]
		at := -1 // the timeline of the newest frame at the report's arrival
		for j, st := range starts {
			if st <= heard {
				at = j
			}
		}
		end := to
		if at+1 < len(starts) {
			end = starts[at+1] - 1
		}
		if at < 0 || (at > 0 && heard < starts[at]+10) || (end < to && heard > end-10) {
			continue // near a timeline's change: it may describe either side
		}
		if errs := v.mappingErrors(sr, starts[at], end); len(errs) > 0 {
			byReport = append(byReport, errs)
		}
	}
	return byReport
}

// timelineStarts are the frames from..to that begin an outgoing timeline: the first, and
// each whose RTP time advanced more than 20 ms apart from its capture (send) time since the
// frame before it. The caller holds v.mu.
func (v *frameViewer) timelineStarts(from, to int) []int {
	var starts []int
	prev := -1
	for n := from; n <= to; n++ {
		if _, ok := v.ts[n]; !ok {
			continue
		}
		if prev < 0 {
			starts = append(starts, n)
		} else {
			media := time.Duration(int32(v.ts[n]-v.ts[prev])) * time.Second / 90000
			if (media - v.sent[n].Sub(v.sent[prev])).Abs() > 20*time.Millisecond {
				starts = append(starts, n)
			}
		}
		prev = n
	}
	return starts
}

// mappingErrors are the sorted errors of report sr's mapping over frames from..to. The
// caller holds v.mu.
func (v *frameViewer) mappingErrors(sr *rtcp.SenderReport, from, to int) []time.Duration {
	const ntpEpoch = 2208988800
	srWall := time.Unix(int64(sr.NTPTime>>32)-ntpEpoch, int64((sr.NTPTime&0xffffffff)*1_000_000_000>>32))
	var errs []time.Duration
	for n := from; n <= to; n++ {
		ts, ok := v.ts[n]
		if !ok {
			continue
		}
		mapped := srWall.Add(time.Duration(int32(ts-sr.RTPTime)) * time.Second / 90000)
		errs = append(errs, mapped.Sub(v.sent[n]).Abs())
	}
	slices.Sort(errs)
	return errs
}

// missing lists the frames from the first received to last that did not arrive.
func (v *frameViewer) missing(last int) []int {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []int
	for n := v.first; n <= last && v.first != 0; n++ {
		if _, ok := v.frames[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

func (v *frameViewer) started() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.first != 0
}

func (v *frameViewer) videoPackets() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.video
}

func (v *frameViewer) audioPackets() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.audio
}

// latencies returns the capture-to-arrival latencies of frames from..to.
func (v *frameViewer) latencies(from, to int) []time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []time.Duration
	for n := from; n <= to; n++ {
		if d, ok := v.frames[n]; ok {
			out = append(out, d)
		}
	}
	return out
}

// waitFrame sends frames until every viewer has one (the relays are up and the viewers
// started at a keyframe) and returns the last frame sent.
func waitFrame(t *testing.T, ctx context.Context, p *simPublisher, viewers ...*frameViewer) int {
	t.Helper()
	var last int
	testkit.Eventually(t, ctx, "every viewer receives frames", func() bool {
		last = p.sendFrame(t)
		for _, v := range viewers {
			if !v.started() {
				return false
			}
		}
		return true
	})
	return last
}
