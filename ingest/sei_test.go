package ingest

import (
	"testing"
	"time"

	"github.com/glint-video/glint/media"
)

// TestCaptureSEIPassesThrough: a capture-time SEI in a passthrough access unit reaches the
// room unchanged, in front of its slice, so latency stamped by a publisher stays readable.
func TestCaptureSEIPassesThrough(t *testing.T) {
	st, room := newTestStream(t, fakeTranscode())
	room.keep = true
	st.declareVideo([]byte{0x67, 0x42, 0xc0, 0x0d}, []byte{0x68, 0xce})
	base := time.Unix(1_800_000_000, 123456789)
	for i, slice := range [][]byte{{0x65, 0x88, 0x84}, {0x41, 0x9a, 0x02}, {0x41, 0x9a, 0x04}} {
		at := base.Add(time.Duration(i) * 33 * time.Millisecond)
		ts := int64(i) * 3000
		if err := st.videoAU(ts, ts, [][]byte{media.AppendCaptureSEI(nil, at), slice}); err != nil {
			t.Fatalf("access unit %d: %v", i, err)
		}
	}
	st.close()
	if st.status.Mode != "passthrough" {
		t.Fatalf("mode %q, want passthrough", st.status.Mode)
	}
	var got []time.Time
	for i, p := range room.packets("video") {
		if typ := media.H264PayloadNALTypes(p.Payload); len(typ) == 1 && typ[0] == 6 {
			at, ok := media.ParseCaptureSEI(p.Payload)
			if !ok {
				t.Fatalf("packet %d: SEI without a capture time", i)
			}
			if p.Marker {
				t.Fatalf("packet %d: the SEI ends its access unit; the slice must follow it", i)
			}
			got = append(got, at)
		}
	}
	if len(got) != 3 {
		t.Fatalf("%d capture-time SEIs reached the room, want 3", len(got))
	}
	for i, at := range got {
		if want := base.Add(time.Duration(i) * 33 * time.Millisecond); !at.Equal(want) {
			t.Errorf("SEI %d carries %v, want %v", i, at, want)
		}
	}
}
