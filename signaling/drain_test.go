package signaling_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

// A drain against real pion peers: the room's event stream says where to go, new sessions
// get 503 with the other node, and the viewer's session ends with the period.
func TestDrainMovesViewersAndRefusesNewSessions(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	nodes := cluster.NewMemoryRegistry()
	dir := cluster.NewMemory("a")
	regCtx, stopReg := context.WithCancel(ctx)
	defer stopReg()
	if err := nodes.Register(regCtx, cluster.NodeInfo{ID: "b", URL: "http://node-b.example:8080"}, func() cluster.Load { return cluster.Load{} }); err != nil {
		t.Fatalf("register node b: %v", err)
	}
	n := testnode.Start(t, testnode.Options{
		SFU:       func(o *sfu.Options) { o.Directory = dir },
		Signaling: func(o *signaling.Options) { o.Directory, o.Nodes = dir, nodes },
	})
	n.Publish(t, ctx, "show")
	viewer, _ := n.Play(t, ctx, "show")

	events := openEvents(t, ctx, n.URL+"/api/rooms/show/events")
	resp, err := http.Post(n.URL+"/api/drain", "application/json", strings.NewReader(`{"period":"2s"}`))
	if err != nil {
		t.Fatalf("POST /api/drain: %v", err)
	}
	var info signaling.DrainInfo
	_ = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || !info.Draining || len(info.Nodes) != 1 || info.Nodes[0] != "http://node-b.example:8080" {
		t.Fatalf("POST /api/drain: %d %+v, want 202 draining towards node b", resp.StatusCode, info)
	}

	drain := events.waitFor(t, "drain")
	if !strings.Contains(drain, `"kind":"drain"`) || !strings.Contains(drain, "node-b.example") {
		t.Errorf("drain event %s, want kind drain and node b", drain)
	}

	_, err = client.Play(ctx, n.WHEP("show"), client.Options{LoopbackOnly: true})
	assertHTTPError(t, err, http.StatusServiceUnavailable, "draining")
	req, _ := http.NewRequest(http.MethodPost, n.WHIP("other"), strings.NewReader("v=0"))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("WHIP while draining: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(resp.Header.Get("Link"), `<http://node-b.example:8080/whip/other>; rel="alternate"`) {
		t.Errorf("WHIP while draining: %d Retry-After %q Link %q, want 503 naming node b", resp.StatusCode,
			resp.Header.Get("Retry-After"), resp.Header.Get("Link"))
	}

	select {
	case <-viewer.Done():
	case <-ctx.Done():
		t.Fatal("the viewer's session did not end with the drain period")
	}
}

func TestNodesAndSourceAPI(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	n := testnode.Start(t, testnode.Options{SFU: func(o *sfu.Options) { o.Backup.Enabled = true }})
	resp, err := http.Get(n.URL + "/api/nodes")
	if err != nil {
		t.Fatalf("GET /api/nodes: %v", err)
	}
	var list []signaling.NodeEntry
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(list) != 0 {
		t.Errorf("GET /api/nodes without a registry: %d %v, want 200 []", resp.StatusCode, list)
	}

	post := func(body string) (int, string) {
		resp, err := http.Post(n.URL+"/api/rooms/show/source", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST source: %v", err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
		return resp.StatusCode, b.String()
	}
	if code, body := post(`{"publisher":"backup"}`); code != http.StatusNotFound {
		t.Errorf("source of a room without a publisher: %d %s, want 404", code, body)
	}
	n.Publish(t, ctx, "show")
	if code, body := post(`{"publisher":"backup"}`); code != http.StatusConflict || !strings.Contains(body, "no backup") {
		t.Errorf("source backup without one: %d %s, want 409", code, body)
	}
	if code, body := post(`{"publisher":"left"}`); code != http.StatusBadRequest {
		t.Errorf("source left: %d %s, want 400", code, body)
	}
	if code, body := post(`nonsense`); code != http.StatusBadRequest {
		t.Errorf("source nonsense: %d %s, want 400", code, body)
	}
	testnode.StartPublisher(t, ctx, n.WHIP("show"), client.Options{})
	if code, body := post(`{"publisher":"backup"}`); code != http.StatusOK || !strings.Contains(body, `"on_air":"backup"`) {
		t.Errorf("source backup: %d %s, want 200 with the backup on air", code, body)
	}
}
