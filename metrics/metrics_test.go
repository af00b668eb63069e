package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/glint-video/glint/sfu"
)

type fixedTotals sfu.Totals

func (f fixedTotals) Totals() sfu.Totals { return sfu.Totals(f) }

func TestMetricsExposeSFUTotals(t *testing.T) {
	tot := sfu.Totals{Rooms: 2, LiveRooms: 1, Publishers: 1, Viewers: 7, PacketsIn: 100, BytesIn: 120000,
		PacketsOut: 700, BytesOut: 840000, NACKsIn: 5, Retransmits: 4, NACKsUpstream: 1, PLIsIn: 3, PLIsUpstream: 2, IngestLost: 0}
	tot.Transit[0], tot.Transit[4] = 600, 100
	tot.TransitUnpaced[0], tot.TransitUnpaced[1] = 650, 50
	tot.ViewersByLayer = map[string]int{"h": 5, "l": 1}
	tot.PausedViewers, tot.EstimateSum = 1, 12_000_000
	tot.TransitSumNs = 50_000_000
	tot.JoinsFromCache, tot.JoinsWithKeyframeRequest = 6, 1
	tot.RelaysOut, tot.RelaysIn = 2, 1
	rec := httptest.NewRecorder()
	Handler(fixedTotals(tot)).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		"glint_rooms 2", "glint_rooms_live 1", "glint_publishers 1", "glint_subscribers 7",
		`glint_rtp_packets_total{direction="in"} 100`, `glint_rtp_packets_total{direction="out"} 700`,
		`glint_rtp_bytes_total{direction="out"} 840000`, `glint_nacks_total{direction="received"} 5`,
		`glint_nacks_total{direction="upstream"} 1`, "glint_retransmits_total 4",
		`glint_plis_total{direction="received"} 3`, `glint_plis_total{direction="upstream"} 2`,
		`glint_transit_seconds_bucket{le="5e-05"} 600`, `glint_transit_seconds_bucket{le="0.001"} 700`,
		"glint_transit_seconds_count 700", "glint_transit_seconds_sum 0.05", "glint_ingest_lost_packets_total 0",
		`glint_transit_unpaced_seconds_bucket{le="5e-05"} 650`, `glint_transit_unpaced_seconds_bucket{le="0.0001"} 700`,
		"glint_transit_unpaced_seconds_count 700",
		"process_resident_memory_bytes", "go_goroutines",
		`glint_viewers_by_layer{layer="h"} 5`, `glint_viewers_by_layer{layer="l"} 1`, "glint_viewers_paused 1",
		"glint_viewer_estimate_bits_sum 1.2e+07",
		`glint_relays{direction="out"} 2`, `glint_relays{direction="in"} 1`,
		`glint_viewer_joins_total{start="cache"} 6`, `glint_viewer_joins_total{start="keyframe_request"} 1`,
	} {
		if !strings.Contains(string(body), want+"\n") && !strings.Contains(string(body), want+" ") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
