package ingest

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/transcoder"
)

// checkH264 checks what a viewer got: an SPS, a PPS and an IDR first, SPS and PPS before
// every IDR, contiguous sequence numbers, frames in timestamp order (inOrder), packets within
// the MTU, and a stream ffmpeg decodes to width x height without errors. It returns the
// number of frames.
func checkH264(t *testing.T, pkts []*rtp.Packet, width, height int, inOrder bool) int {
	t.Helper()
	return checkH264Skips(t, pkts, width, height, inOrder, 0)
}

// checkH264Skips is checkH264 for a viewer the SFU skipped to a keyframe up to skips times
// (its session's skips and stale_skips: a viewer whose packets grew stale on a loaded
// machine). A skip may cut the frame being sent short: such a frame (a new timestamp without
// the marker before it) is left out of the decode, and the packet after the cut must start a
// keyframe. A frame cut short without a counted skip fails the check.
func checkH264Skips(t *testing.T, pkts []*rtp.Packet, width, height int, inOrder bool, skips int) int {
	t.Helper()
	pkts = inSeqOrder(pkts)
	if len(pkts) == 0 {
		t.Fatal("no video packets")
	}
	// The SFU starts a viewer at any packet that starts an IDR slice (media.IsKeyframeStart
	// does not check first_mb_in_slice), so a viewer that attaches in the middle of an IDR of
	// several slices (x264's sliced threads) starts with a partial picture: skip to the next
	// SPS, which ingest sends at the start of every IDR access unit.
	skip := 0
	for skip < len(pkts) && !slices.Contains(media.H264PayloadNALTypes(pkts[skip].Payload), media.H264NALSPS) {
		skip++
	}
	if skip > 0 && skip < len(pkts) {
		t.Logf("viewer attached in the middle of an IDR access unit: skipped %d packets to the next SPS", skip)
		pkts = pkts[skip:]
	}
	// The packets are a snapshot taken while more arrive: it may end inside an access unit
	// (e.g. after an IDR's SPS and PPS, before its slices), which ffmpeg reports as "missing
	// picture in access unit". Check whole access units only: up to the last marker.
	last := len(pkts) - 1
	for last >= 0 && !pkts[last].Marker {
		last--
	}
	if last < 0 {
		t.Fatalf("no complete access unit in %d video packets", len(pkts))
	}
	pkts = pkts[:last+1]
	var annexB []byte
	depack := &codecs.H264Packet{}
	var first []uint8
	frames := 0
	spsAt, ppsAt := map[uint32]bool{}, map[uint32]bool{}
	auStart, cuts := 0, 0 // where the access unit being read starts in annexB; frames cut short
	for i, p := range pkts {
		// The SFU adds header extensions on the way out; what ingest sent fits the MTU.
		if size := rtpHeaderSize + len(p.Payload); size > rtpMTU {
			t.Fatalf("packet %d is %d bytes without extensions, over the %d-byte MTU", i, size, rtpMTU)
		}
		if i > 0 && !pkts[i-1].Marker && p.Timestamp != pkts[i-1].Timestamp {
			if cuts++; cuts > skips || !media.IsKeyframeStart("video/H264", p.Payload) {
				t.Fatalf("packet %d: the frame before it ends without a marker (cut %d, the SFU counted %d skips), keyframe start after it %v; packets around it: %s",
					i, cuts, skips, media.IsKeyframeStart("video/H264", p.Payload), describe(pkts[max(0, i-5):], 10))
			}
			t.Logf("packet %d: the frame before it was cut short by a skip to this keyframe; left out of the decode", i)
			annexB, depack = annexB[:auStart], &codecs.H264Packet{}
		} else if i > 0 && pkts[i-1].Marker {
			auStart = len(annexB)
		}
		if i > 0 {
			if p.SequenceNumber != pkts[i-1].SequenceNumber+1 {
				t.Fatalf("packet %d: sequence %d after %d", i, p.SequenceNumber, pkts[i-1].SequenceNumber)
			}
			if d := int32(p.Timestamp - pkts[i-1].Timestamp); inOrder && d < 0 {
				t.Fatalf("packet %d: timestamp goes back by %d", i, -d)
			}
			if pkts[i-1].Marker && p.Timestamp == pkts[i-1].Timestamp {
				t.Fatalf("packet %d: same timestamp after a marker", i)
			}
		}
		if p.Marker {
			frames++
		}
		for _, typ := range media.H264PayloadNALTypes(p.Payload) {
			if len(first) < 3 && (typ == media.H264NALSPS || typ == media.H264NALPPS || typ == media.H264NALIDR || typ == 1) {
				first = append(first, typ)
			}
			switch typ {
			case media.H264NALSPS:
				spsAt[p.Timestamp] = true
			case media.H264NALPPS:
				ppsAt[p.Timestamp] = true
			case media.H264NALIDR:
				if !spsAt[p.Timestamp] || !ppsAt[p.Timestamp] {
					t.Fatalf("packet %d: IDR without SPS and PPS before it in its access unit; first packets: %s", i, describe(pkts, 20))
				}
			}
		}
		b, err := depack.Unmarshal(p.Payload)
		if err != nil {
			t.Fatalf("packet %d: depacketize: %v", i, err)
		}
		annexB = append(annexB, b...)
	}
	if len(first) < 3 || first[0] != media.H264NALSPS || first[1] != media.H264NALPPS || first[2] != media.H264NALIDR {
		t.Fatalf("first NAL units are %v, want SPS (7), PPS (8), IDR (5); first packets: %s", first, describe(pkts, 20))
	}
	decodeCheck(t, annexB, width, height)
	return frames
}

// decodeCheck decodes an Annex-B H.264 stream with ffmpeg: no errors, the right size.
func decodeCheck(t *testing.T, annexB []byte, width, height int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "got.h264")
	if err := os.WriteFile(path, annexB, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(testkit.RequireTool(t, "ffmpeg"), "-v", "error", "-f", "h264", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("ffmpeg could not decode what the viewer got: %v %s", err, out)
	}
	testkit.RequireTool(t, "ffprobe")
	s, err := testkit.ProbeStream(context.Background(), path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Width != width || s.Height != height {
		t.Fatalf("decoded size %dx%d, want %dx%d", s.Width, s.Height, width, height)
	}
}

// checkOpus checks audio packets: Opus TOC bytes, 48 kHz timestamps advancing with the
// packet durations, contiguous sequence numbers.
func checkOpus(t *testing.T, pkts []*rtp.Packet) {
	t.Helper()
	if len(pkts) < 10 {
		t.Fatalf("%d audio packets, want at least 10", len(pkts))
	}
	for i := 1; i < len(pkts); i++ {
		if pkts[i].SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("audio packet %d: sequence %d after %d", i, pkts[i].SequenceNumber, pkts[i-1].SequenceNumber)
		}
		if d := int32(pkts[i].Timestamp - pkts[i-1].Timestamp); d <= 0 || d > 48000/5 {
			t.Fatalf("audio packet %d: timestamp step %d", i, d)
		}
	}
}

// aacConverterReady tells whether package transcoder converts AAC to Opus yet.
func aacConverterReady() (bool, string) {
	c, err := transcoder.NewAudioConverter("aac", "opus", 48000, 2)
	if err != nil {
		return false, err.Error()
	}
	_ = c.Close()
	return true, ""
}

// reencoderReady tells whether package transcoder re-encodes yet.
func reencoderReady() bool {
	r, err := transcoder.NewReencoder(transcoder.ReencoderConfig{})
	if err != nil {
		return false
	}
	_ = r.Close()
	return true
}

// inSeqOrder drops retransmitted duplicates and orders packets by sequence number (the
// viewer NACKs what the loopback drops under load, and repairs arrive late).
func inSeqOrder(pkts []*rtp.Packet) []*rtp.Packet {
	var ext media.SeqExtender
	byExt := map[uint64]*rtp.Packet{}
	for _, p := range pkts {
		if e := ext.Extend(p.SequenceNumber); byExt[e] == nil {
			byExt[e] = p
		}
	}
	keys := slices.Sorted(maps.Keys(byExt))
	out := make([]*rtp.Packet, len(keys))
	for i, k := range keys {
		out[i] = byExt[k]
	}
	return out
}

// describe lists the first n packets: sequence number, timestamp, marker, NAL unit types.
func describe(pkts []*rtp.Packet, n int) string {
	var b strings.Builder
	for i, p := range pkts[:min(n, len(pkts))] {
		fmt.Fprintf(&b, "\n  %d: seq %d ts %d marker %v nal %v len %d", i, p.SequenceNumber, p.Timestamp, p.Marker, media.H264PayloadNALTypes(p.Payload), len(p.Payload))
	}
	return b.String()
}

// decodableFrames counts the frames a viewer got from its first SPS on.
func decodableFrames(pkts []*rtp.Packet) int {
	for i, p := range pkts {
		if slices.Contains(media.H264PayloadNALTypes(p.Payload), media.H264NALSPS) {
			return frames(pkts[i:])
		}
	}
	return 0
}
