package e2e

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
)

// TestDashboardAndGrafanaMetrics: a node with LL-HLS and RTMP ingest and a live room
// published by ffmpeg over RTMP (854x480: the 360p rung is re-encoded, so the transcoder
// reports). Every metric that docs/grafana/glint.json queries is exported by /metrics, and
// Chromium's /dashboard lists the room and plots its bitrate.
func TestDashboardAndGrafanaMetrics(t *testing.T) {
	requireBrowser(t)
	requireFFmpeg(t)
	rtmp := "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))
	srv := startServer(t, "--hls=true", "--rtmp-addr", rtmp)
	const room = "observed"
	testkit.StartProc(t, testkit.ProcOptions{Name: "ffmpeg rtmp"}, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=854x480:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-t", "120", "-f", "flv", "rtmp://"+rtmp+"/live/"+room)
	srv.waitRoom(t, room, 30*time.Second, "live", func(r roomInfo) bool { return r.Live })
	viewer, err := client.Play(context.Background(), srv.url("/whep/"+room), client.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatalf("WHEP viewer: %v", err)
	}
	defer func() { _ = viewer.Close(context.Background()) }()

	exportedWhen(t, srv, 30*time.Second, `glint_room_viewers_by_layer{layer="",room="`+room+`"} 1`)
	names := exportedWhen(t, srv, 60*time.Second, `glint_transcoder_load_ratio{room="`+room+`"}`)
	checkGrafanaMetrics(t, names)

	p := testkit.StartProc(t, testkit.ProcOptions{Name: "chromium dashboard", Env: []string{"TMPDIR=" + t.TempDir()}},
		"node", "dashboard.mjs", srv.url("/dashboard"), room, "--seconds=60")
	if err := p.Wait(90 * time.Second); err != nil {
		t.Errorf("dashboard page: %v", err)
	}
	var res struct {
		OK      bool   `json:"ok"`
		Failure string `json:"failure"`
		Row     string `json:"row"`
		Points  int    `json:"points"`
	}
	resultLine(t, p, &res)
	if !res.OK || !strings.Contains(res.Row, "rtmp") || !strings.Contains(res.Row, "single: 1") {
		t.Errorf("dashboard: %+v, want the room's row (published over rtmp, one WebRTC viewer) and a bitrate line", res)
	}

	var report struct {
		Nodes []struct {
			Rooms []struct {
				Room      string `json:"room"`
				Publisher struct {
					Protocol string `json:"protocol"`
				} `json:"publisher"`
				Transcoder *struct {
					Load float64 `json:"load"`
				} `json:"transcoder"`
			} `json:"rooms"`
		} `json:"nodes"`
	}
	body := mustGet(t, srv.url("/api/dashboard"))
	if err := json.Unmarshal([]byte(body), &report); err != nil || len(report.Nodes) != 1 || len(report.Nodes[0].Rooms) == 0 {
		t.Fatalf("GET /api/dashboard: %v: %s", err, body)
	}
	r := report.Nodes[0].Rooms[0]
	if r.Room != room || r.Publisher.Protocol != "rtmp" || r.Transcoder == nil || r.Transcoder.Load <= 0 {
		t.Errorf("GET /api/dashboard room = %+v, want %s over rtmp with a transcoder load", r, room)
	}
}

// exportedWhen polls /metrics until it has a sample line starting with want and returns the
// metric family names it exports then.
func exportedWhen(t *testing.T, srv *server, timeout time.Duration, want string) map[string]bool {
	t.Helper()
	var body string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		body = mustGet(t, srv.url("/metrics"))
		if strings.Contains(body, "\n"+want) {
			names := map[string]bool{}
			for _, line := range strings.Split(body, "\n") {
				if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
					names[f[2]] = true
				}
			}
			return names
		}
	}
	t.Fatalf("/metrics has no %s within %s:\n%s", want, timeout, body)
	return nil
}

// checkGrafanaMetrics checks that every metric an expression of the Grafana dashboard names
// (a histogram's _bucket/_sum/_count by its family) is in names.
func checkGrafanaMetrics(t *testing.T, names map[string]bool) {
	t.Helper()
	data, err := os.ReadFile("../docs/grafana/glint.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("docs/grafana/glint.json: %v", err)
	}
	metric := regexp.MustCompile(`\b(?:glint|process|go)_[a-z0-9_]+\b`)
	exprs := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			exprs++
			found := metric.FindAllString(target.Expr, -1)
			if len(found) == 0 {
				t.Errorf("panel %q: expression %q names no metric", p.Title, target.Expr)
			}
			for _, m := range found {
				if !names[m] && !names[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")] {
					t.Errorf("panel %q: %s is not exported by /metrics (expression %q)", p.Title, m, target.Expr)
				}
			}
		}
	}
	if exprs < 30 {
		t.Errorf("docs/grafana/glint.json: %d expressions, want every stage covered", exprs)
	}
}

// mustGet returns the body of a 200 answer to GET url.
func mustGet(t *testing.T, url string) string {
	t.Helper()
	status, body := httpGet(url)
	if status != 200 {
		t.Fatalf("GET %s: %d %s", url, status, body)
	}
	return body
}
