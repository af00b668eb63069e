package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// TestLatencyStamps: playout-delay 0/0 stays on every packet of a fastest room's video;
// abs-capture-time goes on the first packet of each frame (a new RTP time or a new source)
// with the capture instant from the source's pair, and comes off the frame's other packets;
// nothing is stamped before the source has a pair, nor what the viewer did not negotiate.
func TestLatencyStamps(t *testing.T) {
	exts := []webrtc.RTPHeaderExtensionParameter{{URI: playoutDelayURI, ID: 5}, {URI: absCaptureTimeURI, ID: 13}}
	_, up := benchSlot()
	now := time.Now()
	var hdr rtp.Header
	var l latencyStamps
	l.bind(exts, true, &hdr)
	if got := hdr.GetExtension(5); len(got) != 3 || got[0]|got[1]|got[2] != 0 {
		t.Fatalf("playout-delay after bind: %x, want 000000", got)
	}
	l.stamp(&hdr, up, 1000, now)
	if hdr.GetExtension(13) != nil {
		t.Fatal("abs-capture-time stamped before the source has a clock pair")
	}
	pairAt := now.Add(-time.Second)
	up.setSourcePair(pairAt, 90000)
	for i, c := range []struct {
		ts   uint32
		want bool
	}{{180000, true}, {180000, false}, {180000, false}, {183000, true}, {183000, false}} {
		l.stamp(&hdr, up, c.ts, now)
		raw := hdr.GetExtension(13)
		if (raw != nil) != c.want {
			t.Fatalf("packet %d (ts %d): abs-capture-time %x, want present=%v", i, c.ts, raw, c.want)
		}
		if raw != nil {
			var ext rtp.AbsCaptureTimeExtension
			if err := ext.Unmarshal(raw); err != nil {
				t.Fatal(err)
			}
			want := pairAt.Add(time.Duration(c.ts-90000) * time.Second / 90000)
			if d := ext.CaptureTime().Sub(want); d.Abs() > time.Microsecond {
				t.Errorf("packet %d: capture %v, want %v (off by %v)", i, ext.CaptureTime(), want, d)
			}
		}
		if hdr.GetExtension(5) == nil {
			t.Fatalf("packet %d lost playout-delay", i)
		}
	}
	_, other := benchSlot()
	other.setSourcePair(now, 183000)
	if l.stamp(&hdr, other, 183000, now); hdr.GetExtension(13) == nil {
		t.Error("a new source's first packet with the same RTP time was not stamped")
	}

	var sync latencyStamps
	var h2 rtp.Header
	sync.bind(exts, false, &h2)
	if sync.stamp(&h2, up, 200000, now); h2.GetExtension(5) != nil || h2.GetExtension(13) == nil {
		t.Errorf("sync room: playout-delay %x, abs-capture-time %x; want none and one", h2.GetExtension(5), h2.GetExtension(13))
	}
	var none latencyStamps
	var h3 rtp.Header
	none.bind(nil, true, &h3)
	if none.stamp(&h3, up, 200000, now); h3.Extension || len(h3.Extensions) != 0 {
		t.Errorf("viewer without the extensions got %v", h3.Extensions)
	}
}
