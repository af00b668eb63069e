package metrics

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/glint-video/glint/sfu"
)

type fixedRooms struct {
	fixedTotals
	rooms map[string]sfu.RoomTotals
}

func (f fixedRooms) RoomTotals() map[string]sfu.RoomTotals { return f.rooms }

func scrape(t *testing.T, src TotalsSource) string {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(src).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestMetricsPerRoom(t *testing.T) {
	body := scrape(t, fixedRooms{rooms: map[string]sfu.RoomTotals{
		"studio": {Publishers: 1, Viewers: 3, PacketsIn: 10, BytesIn: 12000, PacketsOut: 30, BytesOut: 36000,
			ViewersByLayer: map[string]int{"h": 2}, PausedViewers: 1},
	}})
	for _, want := range []string{
		`glint_room_publishers{room="studio"} 1`, `glint_room_viewers{room="studio"} 3`,
		`glint_room_viewers_by_layer{layer="h",room="studio"} 2`, `glint_room_viewers_paused{room="studio"} 1`,
		`glint_room_rtp_bytes_total{direction="in",room="studio"} 12000`,
		`glint_room_rtp_packets_total{direction="out",room="studio"} 30`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(scrape(t, fixedTotals{}), "glint_room_") {
		t.Error("a source without RoomTotals got per-room series")
	}
}

// TestMetricsRoomLimit: past MaxRoomSeries, the rooms with the most viewers keep their series
// and the rest are summed under room="_other".
func TestMetricsRoomLimit(t *testing.T) {
	rooms := map[string]sfu.RoomTotals{}
	for i := range MaxRoomSeries + 50 {
		rooms[fmt.Sprintf("r%03d", i)] = sfu.RoomTotals{Viewers: i, BytesIn: 1, ViewersByLayer: map[string]int{"": i}}
	}
	got := limitRooms(rooms, MaxRoomSeries)
	if len(got) != MaxRoomSeries+1 {
		t.Fatalf("%d rooms kept, want %d and _other", len(got), MaxRoomSeries)
	}
	if _, ok := got["r249"]; !ok {
		t.Error("the busiest room lost its series")
	}
	if _, ok := got["r000"]; ok {
		t.Error("an idle room kept its series past the limit")
	}
	other := got[otherRooms]
	if other.BytesIn != 50 || other.Viewers != 49*50/2 || other.ViewersByLayer[""] != other.Viewers {
		t.Errorf("_other = %+v, want the 50 smallest rooms summed", other)
	}
}
