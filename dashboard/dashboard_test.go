package dashboard_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/glint-video/glint/dashboard"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// TestDashboardReportsALiveRoom: a WHIP publisher and a WHEP viewer on an in-process node show
// in GET /api/dashboard: the room, its publisher's protocol, one WebRTC viewer on the single
// layer, bytes in and out, and the node's totals and load.
func TestDashboardReportsALiveRoom(t *testing.T) {
	ctx, n, pub := testnode.StartRoom(t, 30*time.Second, "studio")
	recent := dashboard.NewRecentErrors(10)
	dashboard.New(dashboard.Options{Node: "local", SFU: n.SFU, Errors: recent}).Register(n.Mux)
	_, rec := n.Play(t, ctx, "studio")
	pub.Prime(t, ctx, rec)
	slog.New(recent.Handler(n.Log.Handler())).Warn("viewer slow", "room", "studio")

	var report dashboard.Report
	testkit.Eventually(t, ctx, "the room with its viewer in /api/dashboard", func() bool {
		resp, err := http.Get(n.URL + "/api/dashboard")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("GET /api/dashboard: %s, Cache-Control %q", resp.Status, resp.Header.Get("Cache-Control"))
		}
		report = dashboard.Report{}
		if err := json.NewDecoder(resp.Body).Decode(&report); err != nil {
			t.Fatal(err)
		}
		if len(report.Nodes) != 1 || len(report.Nodes[0].Rooms) != 1 {
			return false
		}
		r := report.Nodes[0].Rooms[0]
		return r.Viewers.WebRTC == 1 && r.Layers["single"] == 1 && r.BytesIn > 0 && r.BytesOut > 0
	})
	node := report.Nodes[0]
	r := node.Rooms[0]
	if r.Room != "studio" || !r.Live || r.Publisher == nil || r.Publisher.Protocol != "webrtc" {
		t.Errorf("room %+v, want studio live, published over WebRTC", r)
	}
	if node.Node != "local" || node.Totals.Publishers != 1 || node.Totals.WebRTCViewers != 1 || node.Totals.LiveRooms != 1 {
		t.Errorf("node %+v", node.Totals)
	}
	if node.Load.CPUSeconds <= 0 || node.Load.Cores <= 0 || node.Load.Goroutines <= 0 || node.Latency.Transit.Count == 0 {
		t.Errorf("load %+v, transit %+v: want the process's CPU time, cores, goroutines and counted transits", node.Load, node.Latency.Transit)
	}
	if len(node.Errors) != 1 || node.Errors[0].Message != "viewer slow" {
		t.Errorf("errors %+v, want the one warning", node.Errors)
	}
}
