package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/sfu"
)

// nowherePublisher is a Publisher the claim tests never reach.
type nowherePublisher struct{}

func (nowherePublisher) PublishLocal(string, *webrtc.RTPCodecParameters, *webrtc.RTPCodecParameters, func()) (*sfu.LocalPublisher, error) {
	return nil, errors.New("not in these tests")
}

// TestClaimThroughTheDirectory: an ingest connection holds its room in the shared room
// directory (as cluster.Ingest, beside the SFU's publisher claim); a second connection is
// refused with ErrRoomBusy naming the first; GET /api/ingest lists the holder; release frees
// the room for the next connection.
func TestClaimThroughTheDirectory(t *testing.T) {
	ctx := context.Background()
	dir := cluster.NewMemory("node-a")
	if _, err := dir.Claim(ctx, cluster.Request{Room: "r", Kind: cluster.Publisher, Holder: "whip-session"}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(Config{Directory: dir, Log: log}, nowherePublisher{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.claim("r", "rtmp", "rtmp-1", "127.0.0.1:1", log)
	if err != nil {
		t.Fatalf("first ingest claim: %v", err)
	}
	if c, ok, _ := dir.Owner(ctx, "r", cluster.Ingest); !ok || c.Holder != "rtmp-1" || c.Node != "node-a" {
		t.Fatalf("directory owner %+v %v, want rtmp-1 on node-a", c, ok)
	}
	_, err = s.claim("r", "srt", "srt-2", "127.0.0.1:2", log)
	if !errors.Is(err, ErrRoomBusy) || !errors.Is(err, sfu.ErrRoomBusy) || !strings.Contains(err.Error(), "held by rtmp-1") {
		t.Fatalf("second claim: %v, want ErrRoomBusy held by rtmp-1", err)
	}

	mux := http.NewServeMux()
	s.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/ingest", nil))
	var listed []StreamStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &listed); err != nil || rec.Code != http.StatusOK ||
		rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/ingest: %d %q: %v", rec.Code, rec.Body, err)
	}
	if len(listed) != 1 || listed[0].Room != "r" || listed[0].Conn != "rtmp-1" || listed[0].Protocol != "rtmp" {
		t.Fatalf("GET /api/ingest = %+v, want rtmp-1 holding r", listed)
	}

	s.release(st)
	if _, ok, _ := dir.Owner(ctx, "r", cluster.Ingest); ok {
		t.Fatal("room still held by ingest after release")
	}
	if _, err := s.claim("r", "srt", "srt-3", "127.0.0.1:3", log); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
}
