package sfu

import "testing"

func TestCodecNameIsCanonical(t *testing.T) {
	for mime, want := range map[string]string{
		"video/H264": "H264", "video/h264": "H264", "video/VP8": "VP8", "video/vp9": "VP9",
		"audio/OPUS": "opus", "audio/opus": "opus", "video/AV1": "AV1",
	} {
		if got := codecName(mime); got != want {
			t.Errorf("codecName(%q) = %q, want %q", mime, got, want)
		}
	}
}
