package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDVRSettings: the DVR's defaults, flags, environment (the S3 keys) and file, and the
// per-room window in RoomSettings.
func TestDVRSettings(t *testing.T) {
	def := Defaults()
	if !def.DVR || def.DataDir != "./data" || def.DVRWindow != 2*time.Hour || def.DVRMaxAge != 24*time.Hour ||
		def.DVRMaxBytes != 0 || def.DVRS3.Enabled() {
		t.Errorf("DVR defaults: %+v", def)
	}
	file := filepath.Join(t.TempDir(), "glint.yml")
	yml := "dvr_room_windows:\n  studio: 6h\ndvr_max_bytes: 2TiB\ndvr_s3_endpoint: s3.example.com:9000\ndvr_s3_bucket: glint-dvr\n"
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GLINT_DVR_S3_ACCESS_KEY": "AK", "GLINT_DVR_S3_SECRET_KEY": "SK"}
	c, err := Load([]string{"--config", file, "--data-dir", "/var/lib/glint", "--dvr-window=30m",
		"--dvr-room-max-bytes=500MB", "--dvr-s3-insecure"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := S3Settings{Endpoint: "s3.example.com:9000", Bucket: "glint-dvr", AccessKey: "AK", SecretKey: "SK", Insecure: true}
	if c.DataDir != "/var/lib/glint" || c.DVRWindow != 30*time.Minute || c.DVRMaxBytes != 2<<40 ||
		c.DVRRoomMaxBytes != 500_000_000 || c.DVRS3 != want {
		t.Errorf("loaded: %+v", c)
	}
	if w := c.RoomSettings("studio").DVRWindow; w != 6*time.Hour {
		t.Errorf("studio's window %v, want 6h", w)
	}
	if w := c.RoomSettings("lobby").DVRWindow; w != 30*time.Minute {
		t.Errorf("lobby's window %v, want --dvr-window's 30m", w)
	}
	c.DVR = false
	if w := c.RoomSettings("studio").DVRWindow; w != 0 {
		t.Errorf("window with the DVR off: %v, want 0", w)
	}
}

func TestDVRSettingsErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data-dir="}, "data-dir"},
		{[]string{"--dvr-window=0s"}, "dvr-window"},
		{[]string{"--dvr-max-age=1h", "--dvr-window=2h"}, "dvr-max-age"},
		{[]string{"--dvr-max-bytes=lots"}, "dvr-max-bytes"},
		{[]string{"--dvr-room-max-bytes=-5"}, "dvr-room-max-bytes"},
		{[]string{"--dvr-room-window", "a b=1h"}, "invalid room name"},
		{[]string{"--dvr-room-window", "studio=forever"}, "studio"},
		{[]string{"--dvr-room-window", "studio=48h"}, "longer than dvr-max-age"},
		{[]string{"--dvr-s3-bucket=b"}, "need --dvr-s3-endpoint"},
		{[]string{"--dvr-s3-endpoint=https://s3.example.com", "--dvr-s3-bucket=bucket"}, "without a scheme"},
		{[]string{"--dvr-s3-endpoint=s3.example.com:99999", "--dvr-s3-bucket=bucket"}, "host[:port]"},
		{[]string{"--dvr-s3-endpoint=s3.example.com"}, "dvr-s3-bucket"},
		{[]string{"--dvr-s3-endpoint=s3.example.com", "--dvr-s3-bucket=Bad_Bucket"}, "dvr-s3-bucket"},
		{[]string{"--dvr-s3-endpoint=s3.example.com", "--dvr-s3-bucket=bucket", "--dvr-s3-access-key=AK"}, "both or neither"},
	} {
		_, err := Load(c.args, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %q", c.args, err, c.want)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "1024": 1024, "500MB": 500e6, "500M": 500e6, "20GiB": 20 << 30,
		"1.5TB": 1.5e12, "2Ki": 2048} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1XB", "GB", "1e9"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q): no error", in)
		}
	}
}
