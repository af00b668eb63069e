package ingest

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/pion/rtp"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/media"
)

// Captures in testdata/fuzz/seeds: ffmpeg, 1 s of 320x240 testsrc2 at 30 fps with a 15-frame
// GOP, and 440 Hz sine; see TestSeedsAreSmall for the commands.

func runFLVSeed(t *testing.T, st *stream, name string) {
	t.Helper()
	msgs, err := flvTags(readSeed(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := demuxRTMP(st, rtmpChunks(msgs, 4096)); !errors.Is(err, io.EOF) {
		t.Fatalf("demux: %v", err)
	}
}

func runTSSeed(t *testing.T, st *stream, name string) {
	t.Helper()
	if err := runTS(bytes.NewReader(readSeed(t, name)), st); !errors.Is(err, io.EOF) {
		t.Fatalf("demux: %v", err)
	}
}

// mediaTime is a packet's time since the track's RTP origin, in seconds.
func mediaTime(p *rtp.Packet, base uint32, rate float64) float64 {
	return float64(int32(p.Timestamp-base)) / rate
}

func TestCapturesToRTP(t *testing.T) {
	for _, tc := range []struct {
		seed, audio string
		run         func(*testing.T, *stream, string)
	}{
		{"h264_aac.flv", "aac→opus", runFLVSeed},
		{"h264_aac.ts", "aac→opus", runTSSeed},
		{"h264_opus.ts", "opus", runTSSeed},
	} {
		t.Run(tc.seed, func(t *testing.T) {
			st, room := newTestStream(t, fakeTranscode())
			room.keep = true
			tc.run(t, st, tc.seed)
			st.close()
			if room.bad != nil {
				t.Fatal(room.bad)
			}
			if !strings.Contains(room.video.SDPFmtpLine, "profile-level-id=42c00d") ||
				!strings.Contains(room.video.SDPFmtpLine, "packetization-mode=1") || room.video.PayloadType != videoPT {
				t.Errorf("video codec %+v, want H.264 42c00d packetization-mode=1 PT 96", room.video)
			}
			if st.status.Mode != "passthrough" || st.status.Audio != tc.audio || st.status.Video != "h264 42c00d 320x240" {
				t.Errorf("status %+v", st.status)
			}
			video, audio := room.packets("video"), room.packets("audio")
			if n := frames(video); n != 30 {
				t.Errorf("%d video frames, want 30", n)
			}
			checkSent(t, video)
			if len(audio) < 40 {
				t.Fatalf("%d audio packets, want about 50", len(audio))
			}
			// One clock for both tracks: audio starts where video starts (both at 0 in the capture).
			v0 := mediaTime(video[0], st.video.base, ticksPerSecond)
			a0 := mediaTime(audio[0], st.opus.base, 48000)
			if v0 < 0 || v0 > 0.05 || a0-v0 < -0.03 || a0-v0 > 0.03 {
				t.Errorf("first video at %.3f s, first audio at %.3f s: want both near 0", v0, a0)
			}
			last := mediaTime(audio[len(audio)-1], st.opus.base, 48000)
			if last < 0.9 || last > 1.1 {
				t.Errorf("last audio at %.3f s, want about 1 s", last)
			}
		})
	}
}

// checkSent checks RTP as ingest sent it: SPS, PPS before each IDR, markers, MTU.
func checkSent(t *testing.T, pkts []*rtp.Packet) {
	t.Helper()
	idrs, sps := 0, false
	for i, p := range pkts {
		if p.MarshalSize() > rtpMTU {
			t.Fatalf("packet %d over the MTU", i)
		}
		if i > 0 && p.Timestamp != pkts[i-1].Timestamp {
			sps = false // a new access unit
		}
		for _, typ := range media.H264PayloadNALTypes(p.Payload) {
			switch typ {
			case media.H264NALSPS:
				sps = true
			case media.H264NALIDR:
				if !sps {
					t.Fatalf("packet %d: IDR without an SPS before it in its access unit", i)
				}
				idrs++
			}
		}
		if i+1 < len(pkts) && pkts[i+1].Timestamp != p.Timestamp && !p.Marker {
			t.Fatalf("packet %d ends an access unit without the marker", i)
		}
	}
	if idrs == 0 {
		t.Fatal("no IDR sent")
	}
}

func TestBFramesCapture(t *testing.T) {
	t.Run("re-encoded", func(t *testing.T) {
		tc := fakeTranscode()
		re := &fakeReencoder{}
		tc.Reencoder = func(string, int, *slog.Logger) (VideoReencoder, error) { return re, nil }
		st, room := newTestStream(t, tc)
		room.keep = true
		runFLVSeed(t, st, "h264_bframes_aac.flv")
		if st.status.Mode != "reencoding: b-frames" || !strings.Contains(room.video.SDPFmtpLine, "profile-level-id=42e01f") {
			t.Errorf("status %+v, codec %s: want re-encoding to constrained baseline", st.status, room.video.SDPFmtpLine)
		}
		room.onKeyframe()
		msgs, _ := flvTags(readSeed(t, "h264_bframes_aac.flv"))
		_ = demuxRTMP(st, rtmpChunks(msgs, 4096))
		st.close()
		if re.keyframes != 1 || !re.closed {
			t.Errorf("re-encoder got %d keyframe requests (want 1), closed %v", re.keyframes, re.closed)
		}
	})
	t.Run("no re-encoder", func(t *testing.T) {
		tc := fakeTranscode()
		tc.Reencoder = func(string, int, *slog.Logger) (VideoReencoder, error) { return nil, errors.New("no libav") }
		st, room := newTestStream(t, tc)
		room.keep = true
		runFLVSeed(t, st, "h264_bframes_aac.flv")
		st.close()
		if st.status.Mode != "passthrough: b-frames (no re-encoder: no libav)" || !strings.Contains(room.video.SDPFmtpLine, "=6400") {
			t.Errorf("status %+v, codec %s: want a high-profile passthrough", st.status, room.video.SDPFmtpLine)
		}
		checkSent(t, room.packets("video"))
	})
	t.Run("package transcoder", func(t *testing.T) {
		if !reencoderReady() {
			t.Fatal("transcoder.NewReencoder does not open")
		}
		st, room := newTestStream(t, Transcode{}.withDefaults())
		room.keep = true
		runFLVSeed(t, st, "h264_bframes_aac.flv")
		st.close()
		if st.status.Mode != "reencoding: b-frames" {
			t.Fatalf("status %+v", st.status)
		}
		if n := checkH264(t, room.packets("video"), 320, 240, true); n < 25 {
			t.Errorf("%d re-encoded frames from 30", n)
		}
	})
}

func TestRefusedCodecs(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  message.Message
		want string
	}{
		{"VP9 config", &message.VideoExSequenceStart{FourCC: message.FourCCVP9}, "Enhanced RTMP video vp09"},
		{"VP9", &message.VideoExFramesX{FourCC: message.FourCCVP9}, "Enhanced RTMP video vp09"},
		{"VP9 with composition time", &message.VideoExCodedFrames{FourCC: message.FourCCVP9, Payload: []byte{1}}, "Enhanced RTMP video vp09"},
		{"legacy H.265", &message.Video{Codec: message.CodecH265}, "video codec id 12"},
		{"multitrack", &message.VideoExMultitrack{}, "multitrack"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := newTestStream(t, fakeTranscode())
			err := (&flvDemuxer{st: st}).handle(tc.msg)
			if !errors.Is(err, ErrUnsupportedCodec) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want unsupported codec: %s", err, tc.want)
			}
		})
	}
}

func TestNeverKeyframe(t *testing.T) {
	st, room := newTestStream(t, fakeTranscode())
	st.srv.cfg.KeyframeTimeout = time.Millisecond
	st.declareVideo([]byte{0x67, 0x42, 0xc0, 0x0d}, []byte{0x68, 0xce})
	st.created = time.Now().Add(-time.Second)
	err := st.videoAU(0, 0, [][]byte{{0x41, 0x9a, 0x00}})
	if !errors.Is(err, ErrNoKeyframe) || room.ctx != nil {
		t.Fatalf("got %v (published %v), want ErrNoKeyframe before publishing", err, room.ctx != nil)
	}
}

func TestAudioOnlyAndDroppedAudio(t *testing.T) {
	st, room := newTestStream(t, fakeTranscode())
	st.declareAudio(audioIn{codec: "opus", sampleRate: 48000, channels: 2})
	if err := st.audioFrame(1000, []byte{0xfc, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if room.video != nil || room.audio == nil {
		t.Fatalf("audio-only stream published video %v audio %v", room.video, room.audio)
	}
	st.close()

	st, _ = newTestStream(t, fakeTranscode())
	st.declareAudio(audioIn{codec: "mp3"})
	if err := st.audioFrame(0, []byte{1}); !errors.Is(err, ErrUnsupportedCodec) {
		t.Fatalf("a stream of unplayable audio only: %v, want ErrUnsupportedCodec", err)
	}
}

// TestTimestampWraps: ffmpeg output that starts just before MPEG-TS's 33-bit wrap, and
// just before the 2^31 ms where ffmpeg's FLV timestamps wrap (it writes 31 bits), plays through the wrap with
// steady video and audio timestamps that stay aligned.
func TestTimestampWraps(t *testing.T) {
	for _, tc := range []struct {
		format, offset string
		run            func(*stream, []byte) error
	}{
		{"mpegts", "95442.5", func(st *stream, b []byte) error { return runTS(bytes.NewReader(b), st) }},
		{"flv", "2147482.9", func(st *stream, b []byte) error {
			msgs, err := flvTags(b)
			if err != nil {
				return err
			}
			return demuxRTMP(st, rtmpChunks(msgs, 4096))
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			out, err := exec.Command(testkit.RequireTool(t, "ffmpeg"), append(source(false)[3:], // without -re
				"-c:a", "aac", "-t", "2", "-output_ts_offset", tc.offset, "-f", tc.format, "-")...).Output()
			if err != nil {
				t.Fatalf("ffmpeg: %v", err)
			}
			st, room := newTestStream(t, fakeTranscode())
			room.keep = true
			if err := tc.run(st, out); !errors.Is(err, io.EOF) {
				t.Fatalf("demux: %v", err)
			}
			st.close()
			if st.clock.jumps != 0 {
				t.Errorf("%d timestamp jumps, want none", st.clock.jumps)
			}
			video, audio := room.packets("video"), room.packets("audio")
			var prev *rtp.Packet
			for _, p := range video {
				if prev != nil && prev.Marker {
					if d := int32(p.Timestamp - prev.Timestamp); d < 2000 || d > 4000 {
						t.Fatalf("video frame step %d ticks, want about 3000", d)
					}
				}
				prev = p
			}
			for i := 1; i < len(audio); i++ {
				if d := int32(audio[i].Timestamp - audio[i-1].Timestamp); d < 900 || d > 1100 {
					t.Fatalf("audio step %d, want about 1024", d)
				}
			}
			lastV := mediaTime(video[len(video)-1], st.video.base, ticksPerSecond)
			lastA := mediaTime(audio[len(audio)-1], st.opus.base, 48000)
			if frames(video) < 55 || lastV-lastA > 0.1 || lastA-lastV > 0.1 {
				t.Errorf("%d frames; last video at %.3f s, last audio at %.3f s", frames(video), lastV, lastA)
			}
		})
	}
}
