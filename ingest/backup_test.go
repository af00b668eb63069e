package ingest

import (
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
)

// TestBackupEncoderTakesOver: under publisher_policy backup a second encoder of a room held
// over RTMP (here over SRT) stands by instead of being refused; when the first encoder is
// killed, the viewer's video goes on from the backup in the same session (one SSRC), and all
// of it decodes (the switch is at a keyframe).
func TestBackupEncoderTakesOver(t *testing.T) {
	ctx := testkit.Context(t, 90*time.Second)
	e := newEnvOn(t, testnode.Options{SFU: func(o *sfu.Options) {
		o.Backup = sfu.BackupOptions{Enabled: true, Stall: 500 * time.Millisecond, Hold: time.Hour}
	}}, func(c *Config) { c.Backup = true }, nil)
	primary, v := e.publishAndPlay(t, ctx, "cam", false, "-an", "-t", "40", "-f", "flv", e.rtmp+"/live/cam")
	backup := ffmpeg(t, append(source(false), "-an", "-t", "40", "-f", "mpegts", e.srtURL("publish:cam", ""))...)
	testkit.Eventually(t, ctx, "the SRT encoder standing by", func() bool {
		info, _ := e.SFU.Room("cam")
		return info.Backup != nil && info.Backup.OnAir == sfu.SourcePrimary && len(e.ingest.Status()) == 2
	})
	time.Sleep(time.Second) // the backup's stream is cached, not forwarded
	if n := len(v.SSRCs("video")); n != 1 {
		t.Fatalf("viewer saw %d video SSRCs before the switch, want 1", n)
	}
	before := frames(v.Packets("video"))
	killed := time.Now()
	primary.Kill()
	testkit.Eventually(t, ctx, "the backup on air", func() bool {
		info, _ := e.SFU.Room("cam")
		return info.Live && (info.Backup == nil || info.Backup.OnAir == sfu.SourceBackup)
	})
	testkit.Eventually(t, ctx, "60 more frames at the viewer", func() bool { return frames(v.Packets("video")) >= before+60 })
	t.Logf("RTMP primary killed: the SRT backup on air, %d frames since (%.1fs)", frames(v.Packets("video"))-before, time.Since(killed).Seconds())
	if n := len(v.SSRCs("video")); n != 1 {
		t.Errorf("viewer saw %d video SSRCs, want 1 (no renegotiation)", n)
	}
	checkH264(t, v.Packets("video"), 320, 240, true)
	if backup.Exited() {
		t.Fatalf("backup encoder ended: %s", backup.Stderr())
	}
}
