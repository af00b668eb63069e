package hlsbridge

import (
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/internal/testkit"
)

// TestOnAirAndDateRange: with a publisher whose frames carry capture-time SEIs captureLag in
// the past, OnAir gives the capture time of the newest frame (about now − captureLag, on the
// PROGRAM-DATE-TIME scale), and a date range added at that instant is listed in every
// rendition's media playlist.
func TestOnAirAndDateRange(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	ctx := testkit.Context(t, 90*time.Second)
	aus := encodeTestStream(ctx, t, 10*time.Second)
	env := newTestEnv(t)
	m := env.runManager(t, ctx, Options{Rooms: testRooms, Poll: 100 * time.Millisecond,
		HLS: hls.Config{SegmentDuration: time.Second, PartDuration: 333 * time.Millisecond}})
	if _, ok := m.OnAir("air"); ok {
		t.Fatal("OnAir before the room is live")
	}
	stop := publishWithCaptureSEI(t, env, "air", aus)
	defer stop()
	base := env.URL + "/hls/air/"
	env.waitFor(t, ctx, "a complete segment", base+"source/index.m3u8", func(b string) bool { return strings.Contains(b, "#EXTINF") })
	onAir, ok := m.OnAir("air")
	if lag := time.Since(onAir) - captureLag; !ok || lag < -100*time.Millisecond || lag > 500*time.Millisecond {
		t.Fatalf("OnAir = %v, %v: %v behind now, want about the capture lag %v", onAir, ok, time.Since(onAir), captureLag)
	}
	if err := m.AddDateRange("air", hls.DateRange{ID: "ev1", Class: "urn:glint:event:2026", Start: onAir, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"source", "240p"} {
		env.waitFor(t, ctx, r+" lists the date range", base+r+"/index.m3u8", func(b string) bool {
			return strings.Contains(b, `#EXT-X-DATERANGE:ID="ev1",CLASS="urn:glint:event:2026",START-DATE="`+
				onAir.UTC().Format("2006-01-02T15:04:05.000Z07:00")+`"`)
		})
	}
	if err := m.AddDateRange("nobody", hls.DateRange{ID: "x", Class: "c", Start: onAir}); err == nil {
		t.Error("AddDateRange for a room without a stream succeeded")
	}
}
