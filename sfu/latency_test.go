package sfu_test

import (
	"encoding/binary"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
)

const (
	playoutDelayURI   = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
	absCaptureTimeURI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"
)

// TestLatencyHeaderExtensions: a WHIP publisher with its own sender reports (its NTP clock
// 3 s ahead of the SFU's) in a fastest and in a sync room. A viewer that negotiates both
// extensions gets playout-delay 0/0 on every video packet of the fastest room and none in
// the sync room, and abs-capture-time on every (one-packet) video frame and audio packet:
// monotonic, and within a few ms of the instant the publisher captured it (on the SFU's
// clock: the 3 s skew taken out). A viewer that negotiates neither gets neither. The
// room API shows each room's mode and target.
func TestLatencyHeaderExtensions(t *testing.T) {
	const tolerance = 15 * time.Millisecond
	ctx := testkit.Context(t, 40*time.Second)
	srv := testnode.Start(t, testnode.Options{SFU: func(o *sfu.Options) {
		o.Rooms = func(room string) config.RoomSettings {
			if room == "auction" {
				return config.RoomSettings{Latency: config.LatencySync, SyncDelay: 400 * time.Millisecond, SyncHLSDelay: 1500 * time.Millisecond}
			}
			return config.RoomSettings{Latency: config.LatencyFastest}
		}
	}})
	caps := &captures{times: map[uint32]time.Time{}, phase: map[uint32]int{}}
	for _, room := range []string{"fast", "auction"} {
		startSRPublisher(t, ctx, srv.WHIP(room), caps, 0, srTiming{skew: 3 * time.Second})
		testkit.Eventually(t, ctx, "both tracks in "+room, func() bool {
			info, ok := srv.SFU.Room(room)
			return ok && info.Live && len(info.Tracks) == 2
		})
	}
	fast := testnode.PlayWithExtensions(t, ctx, srv.WHEP("fast"), playoutDelayURI, absCaptureTimeURI)
	plain := testnode.PlayWithExtensions(t, ctx, srv.WHEP("fast"))
	synced := testnode.PlayWithExtensions(t, ctx, srv.WHEP("auction"), playoutDelayURI, absCaptureTimeURI)
	for _, v := range []*testnode.ExtViewer{fast, plain, synced} {
		testkit.Eventually(t, ctx, "60 packets of each kind", func() bool {
			return v.Rec.Count("video") >= 60 && v.Rec.Count("audio") >= 60
		})
	}

	t.Run("fastest room", func(t *testing.T) {
		checkPlayoutDelay(t, fast, true)
		checkCaptureTimes(t, fast, caps, tolerance)
	})
	t.Run("sync room", func(t *testing.T) {
		checkPlayoutDelay(t, synced, false)
		checkCaptureTimes(t, synced, caps, tolerance)
	})
	t.Run("viewer without the extensions", func(t *testing.T) {
		for _, kind := range []string{"video", "audio"} {
			for _, uri := range []string{playoutDelayURI, absCaptureTimeURI} {
				if id := plain.ExtensionID(kind, uri); id != 0 {
					t.Fatalf("%s: %s negotiated (id %d) though not offered", kind, uri, id)
				}
			}
			for _, p := range plain.Rec.Packets(kind) {
				// pion's default interceptors negotiate transport-cc only: one extension at most.
				if n := len(p.Extensions); n > 1 {
					t.Fatalf("%s packet %d carries %d header extensions, want at most transport-cc", kind, p.SequenceNumber, n)
				}
			}
		}
	})
	t.Run("room API", func(t *testing.T) {
		for room, want := range map[string]sfu.RoomInfo{
			"fast":    {Latency: "fastest"},
			"auction": {Latency: "sync", TargetDelayMs: 400, HLSTargetDelayMs: 1500},
		} {
			resp, err := http.Get(srv.URL + "/api/rooms/" + room)
			if err != nil {
				t.Fatal(err)
			}
			var got sfu.RoomInfo
			err = json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if err != nil || got.Latency != want.Latency || got.TargetDelayMs != want.TargetDelayMs || got.HLSTargetDelayMs != want.HLSTargetDelayMs {
				t.Errorf("%s: %+v (%v), want latency %q targets %d/%d ms", room, got, err, want.Latency, want.TargetDelayMs, want.HLSTargetDelayMs)
			}
		}
	})
}

// checkPlayoutDelay checks that every video packet carries playout-delay 0/0 (want) or that
// none carries it.
func checkPlayoutDelay(t *testing.T, v *testnode.ExtViewer, want bool) {
	t.Helper()
	id := v.ExtensionID("video", playoutDelayURI)
	if id == 0 {
		t.Fatal("playout-delay not negotiated")
	}
	for _, p := range v.Rec.Packets("video") {
		raw := p.GetExtension(id)
		if !want {
			if raw != nil {
				t.Fatalf("video packet %d carries playout-delay %x in a sync room", p.SequenceNumber, raw)
			}
			continue
		}
		var d rtp.PlayoutDelayExtension
		if err := d.Unmarshal(raw); err != nil || d.MinDelay != 0 || d.MaxDelay != 0 {
			t.Fatalf("video packet %d: playout-delay %x (%+v, %v), want min = max = 0", p.SequenceNumber, raw, d, err)
		}
	}
}

// checkCaptureTimes checks the abs-capture-time of every packet of both kinds against the
// capture instant the publisher recorded for it (its counter in the payload).
func checkCaptureTimes(t *testing.T, v *testnode.ExtViewer, caps *captures, tolerance time.Duration) {
	t.Helper()
	for _, kind := range []string{"video", "audio"} {
		id := v.ExtensionID(kind, absCaptureTimeURI)
		if id == 0 {
			t.Fatalf("%s: abs-capture-time not negotiated", kind)
		}
		var last time.Time
		var stamped, worst int64
		for i, p := range v.Rec.Packets(kind) {
			raw := p.GetExtension(id)
			if raw == nil {
				if stamped > 0 {
					t.Fatalf("%s packet %d (the %dth) has no abs-capture-time after %d that had", kind, p.SequenceNumber, i, stamped)
				}
				continue // before the source's first sender report: no clock yet
			}
			var ext rtp.AbsCaptureTimeExtension
			if err := ext.Unmarshal(raw); err != nil {
				t.Fatalf("%s packet %d: abs-capture-time %x: %v", kind, p.SequenceNumber, raw, err)
			}
			at := ext.CaptureTime()
			if at.Before(last) {
				t.Fatalf("%s packet %d: capture time %v before the previous %v", kind, p.SequenceNumber, at, last)
			}
			last = at
			want, _, ok := caps.get(binary.BigEndian.Uint32(p.Payload[1:]))
			if !ok {
				t.Fatalf("%s packet %d: unknown counter", kind, p.SequenceNumber)
			}
			off := at.Sub(want)
			if off.Abs() > tolerance {
				t.Errorf("%s packet %d: abs-capture-time %v off the capture instant, want within ±%v", kind, p.SequenceNumber, off, tolerance)
			}
			worst = max(worst, int64(off.Abs()))
			stamped++
		}
		if stamped < 30 {
			t.Fatalf("%s: %d packets with abs-capture-time, want most of %d", kind, stamped, v.Rec.Count(kind))
		}
		t.Logf("%s: %d of %d packets stamped, worst |capture-time error| %.2f ms", kind, stamped, v.Rec.Count(kind), float64(worst)/1e6)
	}
}

// TestCaptureTimeFromTheIngestClock: an RTMP/SRT-style local publisher gives its stream's clock
// with SetSenderReport; a viewer that negotiates abs-capture-time gets, on every video frame
// and audio packet, exactly the instant that clock says its RTP time was captured.
func TestCaptureTimeFromTheIngestClock(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	video := &webrtc.RTPCodecParameters{RTPCodecCapability: testnode.H264Codec(), PayloadType: 96}
	audio := &webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}
	pub, err := srv.SFU.PublishLocal("ingest", video, audio, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond) // the stream's clock: RTP 0 at t0
	rates := map[string]uint32{"video": 90000, "audio": 48000}
	for kind := range rates {
		pub.SetSenderReport(kind, t0, 0)
	}
	seqs := map[string]uint16{}
	write := func(kind string, frame int, payload []byte) {
		seqs[kind]++
		ts := uint32(frame) * rates[kind] / 50 // 20 ms frames
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seqs[kind], Timestamp: ts}, Payload: payload}).Marshal()
		if err := pub.WriteRTP(kind, b); err != nil {
			t.Fatal(err)
		}
	}
	write("video", 0, testnode.KeyframePayload(0))
	srv.WaitLive(t, ctx, "ingest")
	v := testnode.PlayWithExtensions(t, ctx, srv.WHEP("ingest"), absCaptureTimeURI)
	frame := 1
	testkit.Eventually(t, ctx, "20 packets of each kind", func() bool {
		write("video", frame, testnode.KeyframePayload(frame))
		write("audio", frame, testnode.AudioPayload(frame))
		frame++
		return v.Rec.Count("video") >= 20 && v.Rec.Count("audio") >= 20
	})
	for kind := range rates {
		id := v.ExtensionID(kind, absCaptureTimeURI)
		for _, p := range v.Rec.Packets(kind) {
			var ext rtp.AbsCaptureTimeExtension
			if err := ext.Unmarshal(p.GetExtension(id)); err != nil {
				t.Fatalf("%s packet %d: abs-capture-time: %v", kind, p.SequenceNumber, err)
			}
			// The frame number is in the payload (KeyframePayload, AudioPayload): its source
			// RTP time is frame × rate / 50, captured that long after t0.
			at := 4
			if kind == "audio" {
				at = 1
			}
			frame := int(binary.BigEndian.Uint16(p.Payload[at:]))
			want := t0.Add(time.Duration(frame) * 20 * time.Millisecond)
			if d := ext.CaptureTime().Sub(want); d.Abs() > time.Microsecond {
				t.Fatalf("%s packet %d (frame %d): capture %v, want %v from the ingest clock", kind, p.SequenceNumber, frame, ext.CaptureTime(), want)
			}
		}
	}
}
