package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/media"
)

// browserCodec is one codec Chromium publishes in TestBrowserPublishesCodec.
type browserCodec struct {
	name    string // the publish page's ?codec=
	viewer  webrtc.RTPCodecParameters
	probed  string // ffprobe's codec_name of what the viewer got
	encoder string // Chromium's encoderImplementation
}

var browserCodecs = []browserCodec{
	{name: "av1", probed: "av1", encoder: "libaom", viewer: webrtc.RTPCodecParameters{PayloadType: 45, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeAV1, ClockRate: 90000, SDPFmtpLine: "level-idx=5;profile=0;tier=0"}}},
	{name: "vp9", probed: "vp9", encoder: "libvpx", viewer: webrtc.RTPCodecParameters{PayloadType: 98, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}}},
}

// TestBrowserPublishesCodec: Chromium publishes its fake camera and microphone in AV1 (its
// software libaom encoder), then in VP9, over WHIP through the publish page
// (?codec=…&simulcast=0). A pion WHEP viewer that offers only that codec gets it as sent: its
// first packet starts a keyframe and ffprobe (libdav1d for AV1) decodes every frame from
// there. Every LL-HLS rendition of the room (H.264 transcoded from it, and AAC) decodes with
// ffprobe.
func TestBrowserPublishesCodec(t *testing.T) {
	requireBrowser(t)
	testkit.RequireTool(t, "ffprobe")
	for _, bc := range browserCodecs {
		t.Run(bc.name, func(t *testing.T) {
			start := time.Now()
			srv := startServer(t, "--hls=true", "--hls-ladder", "source,144p")
			room := "browser-" + bc.name
			pub := startBrowser(t, "publish", srv.url("/publish/"+room), 150, "--query=simulcast=0&codec="+bc.name)
			live := pub.waitState(45*time.Second, "live publisher sending "+bc.name, func(s pageState) bool {
				return s.State == "live" && len(s.Outbound) > 0 && s.Outbound[0].FramesEncoded > 0
			})
			t.Logf("%.1fs: publisher live at its t=%ds", since(start), live.T)
			srv.waitRoom(t, room, 10*time.Second, "live with "+bc.name+" video and audio", func(r roomInfo) bool {
				v, ok := r.track("video")
				_, hasAudio := r.track("audio")
				return r.Live && ok && hasAudio && strings.EqualFold("video/"+v.Codec, bc.viewer.MimeType)
			})

			v := playCodec(t, srv.url("/whep/"+room), bc.viewer)
			v.waitFrames(t, 90, 45*time.Second)
			t.Logf("%.1fs: viewer: first keyframe %v after the WHEP offer, 90 frames %v after it",
				since(start), v.firstKey.Sub(v.offered).Round(time.Millisecond), v.frame90.Sub(v.offered).Round(time.Millisecond))
			v.checkDecodes(t, bc)

			probeHLSRenditions(t, srv, room, bc.name == "av1")
			pres := pub.finish()
			if !pres.OK {
				t.Fatalf("publisher: %s", pres.Failure)
			}
			if len(pres.Outbound) != 1 || !strings.Contains(pres.Outbound[0].EncoderImplementation, bc.encoder) {
				t.Errorf("publisher encodings %+v, want one by %s", pres.Outbound, bc.encoder)
			}
			t.Logf("%.1fs: publisher ended: %+v", since(start), pres.Outbound)
		})
	}
}

// codecViewer is a pion WHEP viewer of one video codec that keeps every packet.
type codecViewer struct {
	mime     string
	offered  time.Time
	mu       sync.Mutex
	pkts     []*rtp.Packet
	firstKey time.Time // arrival of the first packet that starts a keyframe
	frames   int       // frames (marker bits) since it
	frame90  time.Time
	changed  chan struct{}
}

// playCodec connects a viewer offering only codec (video only) to whepURL; cleanup closes it.
func playCodec(t *testing.T, whepURL string, codec webrtc.RTPCodecParameters) *codecViewer {
	t.Helper()
	v := &codecViewer{mime: codec.MimeType, changed: make(chan struct{}), offered: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sess, err := client.Play(ctx, whepURL, client.Options{LoopbackOnly: true, OnTrack: v.onTrack,
		Codecs: []webrtc.RTPCodecParameters{codec}}, webrtc.RTPCodecTypeVideo)
	if err != nil {
		t.Fatalf("pion WHEP viewer of %s: %v", codec.MimeType, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sess.Close(ctx)
	})
	return v
}

func (v *codecViewer) onTrack(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	if track.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		v.mu.Lock()
		if v.firstKey.IsZero() && media.IsKeyframeStart(v.mime, pkt.Payload) {
			v.firstKey = time.Now()
		}
		if !v.firstKey.IsZero() {
			v.pkts = append(v.pkts, pkt)
			if pkt.Marker {
				if v.frames++; v.frames == 90 {
					v.frame90 = time.Now()
				}
			}
		}
		close(v.changed)
		v.changed = make(chan struct{})
		v.mu.Unlock()
	}
}

// waitFrames waits until n frames have come from the first keyframe on.
func (v *codecViewer) waitFrames(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		v.mu.Lock()
		frames, changed := v.frames, v.changed
		v.mu.Unlock()
		if frames >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("pion WHEP viewer: %d %s frames from a keyframe within %v, want %d", frames, v.mime, timeout, n)
		}
	}
}

// checkDecodes writes what the viewer got (in sequence order, from its first keyframe) to an
// IVF file and has ffprobe decode it all: the codec, and every frame but the last (which may
// be cut).
func (v *codecViewer) checkDecodes(t *testing.T, bc browserCodec) {
	t.Helper()
	v.mu.Lock()
	pkts := slices.Clone(v.pkts)
	v.mu.Unlock()
	first := pkts[0].SequenceNumber
	slices.SortStableFunc(pkts, func(a, b *rtp.Packet) int { return int(a.SequenceNumber-first) - int(b.SequenceNumber-first) })
	var ivf bytes.Buffer
	w, err := ivfwriter.NewWith(&ivf, ivfwriter.WithCodec(v.mime))
	if err != nil {
		t.Fatal(err)
	}
	frames := 0
	for _, p := range pkts {
		if err := w.WriteRTP(p); err != nil {
			t.Fatalf("%s packet %d: %v", bc.name, p.SequenceNumber, err)
		}
		if p.Marker {
			frames++
		}
	}
	path := filepath.Join(t.TempDir(), "viewer.ivf")
	if err := os.WriteFile(path, ivf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := testkit.ProbeStream(context.Background(), path, time.Minute)
	if err != nil {
		t.Fatalf("ffprobe of the viewer's %s: %v", bc.name, err)
	}
	if st.Codec != bc.probed || st.Width == 0 || st.Frames < frames-1 {
		t.Fatalf("ffprobe of the viewer's %s: %s, %d of %d frames decoded; want %s", bc.name, st, st.Frames, frames, bc.probed)
	}
	t.Logf("viewer: %s, %d of %d frames decoded", st, st.Frames, frames)
}

var playlistURI = regexp.MustCompile(`(?m)^([^#\s]\S*)$|URI="([^"]+)"`)

// probeHLSRenditions waits until room's multivariant playlist lists the ladder and audio,
// and each rendition 4 segments, then has ffprobe decode 2 s of each. The ladder is the
// server's `source,144p`: two H.264 variants for a source that is re-encoded (VP9); for one
// passed through (AV1: hlsbridge/passthrough.go) the source itself in its codec, an H.264
// rendition of its size, and 144p.
func probeHLSRenditions(t *testing.T, srv *server, room string, passthrough bool) {
	t.Helper()
	ctx := testkit.Context(t, 90*time.Second)
	base := srv.url("/hls/" + room + "/")
	var uris []string
	variants := 2
	if passthrough {
		variants = 3
	}
	testkit.Eventually(t, ctx, fmt.Sprintf("a multivariant playlist with %d variants and audio", variants), func() bool {
		code, body := httpGet(base + "index.m3u8")
		uris = uris[:0]
		for _, m := range playlistURI.FindAllStringSubmatch(body, -1) {
			uris = append(uris, m[1]+m[2])
		}
		return code == 200 && strings.Count(body, "#EXT-X-STREAM-INF") == variants && len(uris) == variants+1
	})
	for _, uri := range uris {
		testkit.Eventually(t, ctx, uri+" with 4 segments", func() bool {
			code, body := httpGet(base + uri)
			return code == 200 && strings.Count(body, "#EXTINF") >= 4
		})
		// 60 packets, not a duration: a transcoded rung that fell behind real time on a
		// loaded machine leaves a gap in its timeline, which a duration would count.
		st, err := testkit.ProbePacketStream(ctx, base+uri, 60)
		if err != nil {
			t.Errorf("LL-HLS %s: %v", uri, err)
			continue
		}
		source := strings.HasPrefix(uri, "source/")
		if want := passthrough && source; (want && st.Codec != "av1") || (!want && st.Codec != "h264" && st.Codec != "aac") || st.Frames < 20 {
			t.Errorf("LL-HLS %s: ffprobe decoded %s, %d frames; want %s, at least 20 frames", uri, st, st.Frames,
				map[bool]string{true: "the AV1 source passed through", false: "H.264 or AAC"}[want])
		}
		t.Logf("LL-HLS %s: %s, %d frames decoded", uri, st, st.Frames)
	}
}
