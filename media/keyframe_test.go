package media

import "testing"

// keyframeCase is one payload and whether it starts a keyframe.
type keyframeCase struct {
	name    string
	payload []byte
	want    bool
}

// checkKeyframeStarts runs IsKeyframeStart on every case under each MIME type spelling.
func checkKeyframeStarts(t *testing.T, tests []keyframeCase, mimes ...string) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mime := range mimes {
				if got := IsKeyframeStart(mime, tt.payload); got != tt.want {
					t.Errorf("IsKeyframeStart(%s, % x) = %v, want %v", mime, tt.payload, got, tt.want)
				}
			}
		})
	}
}

func TestIsKeyframeStartH264(t *testing.T) {
	const (
		sps    = 0x67 // nal_ref_idc 3, type 7
		pps    = 0x68 // type 8
		idr    = 0x65 // type 5
		nonIDR = 0x41 // nal_ref_idc 2, type 1
		sei    = 0x06
		stapA  = 0x78 // type 24
		fuA    = 0x7c // type 28, nal_ref_idc 3
	)
	tests := []keyframeCase{
		{"empty", nil, false},
		{"single SPS", []byte{sps, 0x42, 0xe0, 0x1f}, true},
		{"single PPS", []byte{pps, 0xce, 0x3c, 0x80}, false},
		{"single IDR", []byte{idr, 0x88, 0x84}, true},
		{"single non-IDR", []byte{nonIDR, 0x9a, 0x00}, false},
		{"single SEI", []byte{sei, 0x05, 0x01}, false},
		{"STAP-A SPS PPS IDR", []byte{stapA, 0, 4, sps, 0x42, 0xe0, 0x1f, 0, 4, pps, 0xce, 0x3c, 0x80, 0, 2, idr, 0x88}, true},
		{"STAP-A SEI then SPS", []byte{stapA, 0, 2, sei, 1, 0, 2, sps, 0x42}, true},
		{"STAP-A SEI then IDR", []byte{stapA, 0, 2, sei, 1, 0, 2, idr, 0x88}, true},
		{"STAP-A PPS and non-IDR only", []byte{stapA, 0, 2, pps, 1, 0, 2, nonIDR, 2}, false},
		{"STAP-A header only", []byte{stapA}, false},
		{"STAP-A zero size", []byte{stapA, 0, 0, sps, 0x42}, false},
		{"STAP-A size beyond payload", []byte{stapA, 0, 9, sps, 0x42}, false},
		{"STAP-A second size beyond payload", []byte{stapA, 0, 2, sei, 1, 0, 9, sps}, false},
		{"FU-A start of IDR", []byte{fuA, 0x85, 0x88, 0x84}, true},
		{"FU-A middle of IDR", []byte{fuA, 0x05, 0x11, 0x22}, false},
		{"FU-A end of IDR", []byte{fuA, 0x45, 0x11, 0x22}, false},
		{"FU-A start of non-IDR", []byte{fuA, 0x81, 0x9a, 0x00}, false},
		{"FU-A header only", []byte{fuA}, false},
		{"FU-B (not supported)", []byte{0x7d, 0x85, 0, 1}, false},
	}
	checkKeyframeStarts(t, tests, "video/H264", "video/h264")
}

func TestIsKeyframeStartVP8(t *testing.T) {
	// Payload descriptor first byte: X R N S R PID(3). Payload header first byte: P bit is bit 0.
	const (
		key   = 0x10 // frame tag with P=0 (show_frame set, version 0)
		delta = 0x11 // P=1
	)
	tests := []keyframeCase{
		{"empty", nil, false},
		{"key, no extension", []byte{0x10, key, 0x02, 0x00}, true},
		{"delta, no extension", []byte{0x10, delta, 0x02, 0x00}, false},
		{"key, not start of partition", []byte{0x00, key, 0x02}, false},
		{"key, start of partition 1", []byte{0x11, key, 0x02}, false},
		{"key, N bit set", []byte{0x30, key}, true},
		{"descriptor only", []byte{0x10}, false},
		{"key, X with 7-bit picture id", []byte{0x90, 0x80, 0x05, key, 0x02}, true},
		{"delta, X with 7-bit picture id", []byte{0x90, 0x80, 0x05, delta, 0x02}, false},
		{"key, X with 15-bit picture id", []byte{0x90, 0x80, 0x81, 0x23, key, 0x02}, true},
		{"delta, X with 15-bit picture id", []byte{0x90, 0x80, 0x81, 0x23, delta, 0x02}, false},
		// The second byte of a 15-bit picture id has its low bit set: a parser that
		// skipped only one byte would read it as a delta frame.
		{"key, 15-bit picture id with odd low byte", []byte{0x90, 0x80, 0x80, 0x01, key}, true},
		{"key, X with picture id, TL0PICIDX, TID/KEYIDX", []byte{0x90, 0xf0, 0x81, 0x23, 0x07, 0x40, key}, true},
		{"delta, X with picture id, TL0PICIDX, TID/KEYIDX", []byte{0x90, 0xf0, 0x81, 0x23, 0x07, 0x40, delta}, false},
		{"key, X with only K", []byte{0x90, 0x10, 0x03, key}, true},
		{"key, X with no fields", []byte{0x90, 0x00, key}, true},
		{"X without extension byte", []byte{0x90}, false},
		{"X with picture id cut", []byte{0x90, 0x80}, false},
		{"X with 15-bit picture id cut", []byte{0x90, 0x80, 0x81}, false},
		{"X with all fields, no payload", []byte{0x90, 0xf0, 0x81, 0x23, 0x07, 0x40}, false},
	}
	checkKeyframeStarts(t, tests, "video/VP8")
}

func TestIsKeyframeStartVP9(t *testing.T) {
	// Descriptor first byte: I P L F B E V Z.
	tests := []keyframeCase{
		{"empty", nil, false},
		{"B, not P", []byte{0x08, 0x82}, true},
		{"B and E, not P", []byte{0x0c, 0x82}, true},
		{"B with scalability structure", []byte{0x0a, 0x18, 0x02, 0x80, 0x01, 0x68}, true},
		{"P and B", []byte{0x48, 0x82}, false},
		{"not B (continuation)", []byte{0x00, 0x82}, false},
		{"end only", []byte{0x04}, false},
		{"B with 7-bit picture id", []byte{0x88, 0x05, 0x82}, true},
		{"B with 15-bit picture id", []byte{0x88, 0x81, 0x23, 0x82}, true},
		{"P with picture id", []byte{0xc8, 0x05}, false},
		{"B, layer indices, spatial layer 0", []byte{0xa8, 0x05, 0x00, 0x01}, true},
		{"B, layer indices, temporal layer 2, spatial layer 0", []byte{0xa8, 0x05, 0x40, 0x01}, true},
		{"B, layer indices, spatial layer 1", []byte{0xa8, 0x05, 0x02, 0x01}, false},
		{"B, layer indices, spatial layer 2", []byte{0x28, 0x04, 0x01}, false},
		{"B, layer indices, spatial layer 0, 15-bit picture id", []byte{0xa8, 0x80, 0x01, 0x01, 0x00}, true},
		{"B, layer indices, spatial layer 1, 15-bit picture id", []byte{0xa8, 0x80, 0x01, 0x03, 0x00}, false},
		{"picture id cut", []byte{0x88}, false},
		{"layer indices cut", []byte{0x28}, false},
		{"layer indices cut after 15-bit picture id", []byte{0xa8, 0x81, 0x23}, false},
	}
	checkKeyframeStarts(t, tests, "video/VP9")
}

func TestIsKeyframeStartOtherCodecs(t *testing.T) {
	tests := []struct {
		mime    string
		payload []byte
		want    bool
	}{
		{"audio/opus", []byte{0xfc, 0xff, 0xfe}, true},
		{"audio/opus", nil, true},
		{"audio/PCMU", []byte{0xff}, true},
		{"video/AV1", []byte{0x18, 0x0a}, true},                          // N: starts a coded video sequence
		{"video/AV1", []byte{0x10, 0x32}, false},                         // no N: an inter frame
		{"video/AV1", []byte{0x98, 0x32}, false},                         // Z with N: not a frame's start
		{"video/AV1", []byte{0x18}, false},                               // no OBU element
		{"video/H265", []byte{0x40, 0x01, 0x0c}, true},                   // VPS
		{"video/H265", []byte{0x26, 0x01, 0xaf}, true},                   // IDR_W_RADL, first slice
		{"video/H265", []byte{0x26, 0x01, 0x2f}, false},                  // IDR_W_RADL, a later slice
		{"video/H265", []byte{0x02, 0x01, 0xd0}, false},                  // TRAIL_R
		{"video/H265", []byte{0x62, 0x01, 0x93, 0xaf}, true},             // FU start of an IDR, first slice
		{"video/H265", []byte{0x62, 0x01, 0x13, 0xaf}, false},            // FU continuation
		{"video/H265", []byte{0x60, 0x01, 0x00, 0x02, 0x40, 0x01}, true}, // AP with a VPS
		{"video/H266", []byte{0x00, 0x01}, false},                        // unknown video: never a safe start
		{"VIDEO/vp8", []byte{0x10, 0x10}, true},
	}
	for _, tt := range tests {
		if got := IsKeyframeStart(tt.mime, tt.payload); got != tt.want {
			t.Errorf("IsKeyframeStart(%s, % x) = %v, want %v", tt.mime, tt.payload, got, tt.want)
		}
	}
}

func TestIsVideo(t *testing.T) {
	for mime, want := range map[string]bool{
		"video/H264": true, "Video/VP8": true, "audio/opus": false, "": false, "application/data": false,
	} {
		if got := IsVideo(mime); got != want {
			t.Errorf("IsVideo(%q) = %v, want %v", mime, got, want)
		}
	}
}

func TestH264KeyframeStartNeedsTheFirstSliceOfAnIDR(t *testing.T) {
	cases := []keyframeCase{
		{"IDR first slice (first_mb_in_slice 0)", []byte{0x65, 0x88, 0x84}, true},
		{"IDR later slice (first_mb_in_slice > 0)", []byte{0x65, 0x40, 0x84}, false},
		{"FU-A start of a first IDR slice", []byte{0x7c, 0x85, 0x88}, true},
		{"FU-A start of a later IDR slice", []byte{0x7c, 0x85, 0x21}, false},
		{"STAP-A with a later IDR slice only", []byte{0x78, 0x00, 0x02, 0x65, 0x40}, false},
	}
	checkKeyframeStarts(t, cases, "video/H264")
}
