package hlsbridge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/sfu"
)

// TestRegister: Register mounts the LL-HLS server at /hls/ and GET /api/hls, which shows the
// encoder (none before Run probed it) and the bridged rooms (an empty list, not null).
func TestRegister(t *testing.T) {
	media, err := sfu.New(sfu.Options{Transport: sfu.TransportConfig{ICEIPs: []string{"127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = media.Close(context.Background()) }()
	m, err := NewManager(Options{SFU: media, Server: hls.NewServer(nil)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	m.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/hls", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" ||
		rec.Body.String() != `{"encoder":"","hardware":false,"rooms":[],"parked":[]}`+"\n" {
		t.Fatalf("GET /api/hls: %d %q", rec.Code, rec.Body)
	}
	var st Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Rooms == nil {
		t.Fatalf("GET /api/hls does not decode into Status: %+v %v", st, err)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/hls/nobody/index.m3u8", nil))
	if rec.Code != http.StatusNotFound || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("GET /hls/nobody/index.m3u8: %d, want the hls server's 404", rec.Code)
	}
}
