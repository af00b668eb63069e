package media

import (
	"maps"
	"testing"
)

func TestParseFmtp(t *testing.T) {
	tests := []struct {
		line string
		want map[string]string
	}{
		{"", map[string]string{}},
		{"minptime=10;useinbandfec=1", map[string]string{"minptime": "10", "useinbandfec": "1"}},
		{"level-asymmetry-allowed=1; packetization-mode=1 ;Profile-Level-Id=42E01F",
			map[string]string{"level-asymmetry-allowed": "1", "packetization-mode": "1", "profile-level-id": "42E01F"}},
		{"apt=96", map[string]string{"apt": "96"}},
		{"flag;;=novalue;x=", map[string]string{"flag": "", "x": ""}},
	}
	for _, tt := range tests {
		if got := ParseFmtp(tt.line); !maps.Equal(got, tt.want) {
			t.Errorf("ParseFmtp(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestFmtpCompatible(t *testing.T) {
	const (
		cb1   = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
		cb0   = "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"
		base1 = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"
		main1 = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"
		high1 = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032"
	)
	tests := []struct {
		name string
		mime string
		a, b string
		want bool
	}{
		{"H.264 identical", "video/H264", cb1, cb1, true},
		{"H.264 mime case", "VIDEO/h264", cb1, cb1, true},
		{"H.264 packetization-mode 1 vs 0", "video/H264", cb1, cb0, false},
		{"H.264 packetization-mode default is 0", "video/H264", "profile-level-id=42e01f", cb0, true},
		{"H.264 packetization-mode default vs 1", "video/H264", "profile-level-id=42e01f", cb1, false},
		{"H.264 42e01f vs 42001f", "video/H264", cb1, base1, false},
		{"H.264 42e01f vs 4d001f", "video/H264", cb1, main1, false},
		{"H.264 42e01f vs 640032", "video/H264", cb1, high1, false},
		{"H.264 42001f vs 4d001f", "video/H264", base1, main1, false},
		{"H.264 4d001f vs 640032", "video/H264", main1, high1, false},
		{"H.264 640032 vs 640032", "video/H264", high1, high1, true},
		{"H.264 level is not a limit", "video/H264", "packetization-mode=1;profile-level-id=42e034", "packetization-mode=1;profile-level-id=42e00a", true},
		{"H.264 level differs for main", "video/H264", "packetization-mode=1;profile-level-id=4d0032", main1, true},
		{"H.264 constrained baseline 42c01f = 42e01f", "video/H264", "packetization-mode=1;profile-level-id=42c01f", cb1, true},
		{"H.264 constrained baseline 42401f = 42e01f", "video/H264", "packetization-mode=1;profile-level-id=42401f", cb1, true},
		{"H.264 profile-level-id is case-insensitive", "video/H264", "packetization-mode=1;profile-level-id=42E01F", cb1, true},
		{"H.264 missing profile-level-id means 42001f", "video/H264", "packetization-mode=1", base1, true},
		{"H.264 missing profile-level-id vs 42e01f", "video/H264", "packetization-mode=1", cb1, false},
		{"H.264 both empty", "video/H264", "", "", true},
		{"VP9 both default", "video/VP9", "", "", true},
		{"VP9 default is profile 0", "video/VP9", "", "profile-id=0", true},
		{"VP9 profile 0 vs 2", "video/VP9", "profile-id=0", "profile-id=2", false},
		{"VP9 default vs 2", "video/VP9", "", "profile-id=2", false},
		{"VP9 profile 2 vs 2", "video/vp9", "profile-id=2", "profile-id=2", true},
		{"VP8 ignores parameters", "video/VP8", "max-fr=30", "max-fs=3600", true},
		{"Opus ignores parameters", "audio/opus", "minptime=10;useinbandfec=1", "stereo=1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FmtpCompatible(tt.mime, tt.a, tt.b); got != tt.want {
				t.Errorf("FmtpCompatible(%s, %q, %q) = %v, want %v", tt.mime, tt.a, tt.b, got, tt.want)
			}
			// Every rule here is symmetric: the same answer with a and b swapped.
			if got := FmtpCompatible(tt.mime, tt.b, tt.a); got != tt.want {
				t.Errorf("FmtpCompatible(%s, %q, %q) = %v, want %v (swapped)", tt.mime, tt.b, tt.a, got, tt.want)
			}
		})
	}
}

func TestCodecStrings(t *testing.T) {
	if got := AVCCodecString(0x42, 0xe0, 0x1f); got != "avc1.42e01f" {
		t.Errorf("AVCCodecString = %q, want avc1.42e01f", got)
	}
	for _, tt := range []struct {
		asc  []byte
		want string
	}{
		{[]byte{0x11, 0x90}, "mp4a.40.2"},        // AAC LC, 48 kHz stereo
		{[]byte{0x2b, 0x92, 0x08}, "mp4a.40.5"},  // SBR (HE-AAC)
		{[]byte{0xf8, 0x40, 0x00}, "mp4a.40.34"}, // escaped object type: 32 + 2
	} {
		if got := AACCodecString(tt.asc); got != tt.want {
			t.Errorf("AACCodecString(% x) = %q, want %q", tt.asc, got, tt.want)
		}
	}
}
