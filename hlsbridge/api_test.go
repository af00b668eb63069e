package hlsbridge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

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

// discardRTCP is a relay's upstream that drops what it is given.
type discardRTCP struct{}

func (discardRTCP) WriteRTCP([]rtcp.Packet) error { return nil }

// TestRelayedRoomsAreLeftToTheirOrigin: a room relayed from another node is live here, but
// only its origin transcodes it (other nodes serve its LL-HLS through relay.Shield).
func TestRelayedRoomsAreLeftToTheirOrigin(t *testing.T) {
	media, err := sfu.New(sfu.Options{Transport: sfu.TransportConfig{ICEIPs: []string{"127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = media.Close(context.Background()) }()
	relay, err := media.PublishRelay("elsewhere", discardRTCP{})
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	h264 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}, PayloadType: 102}
	if _, err := relay.AddTrack("video", "", h264, 1234); err != nil {
		t.Fatal(err)
	}
	if info, _ := media.Room("elsewhere"); !info.Live || !info.Relayed {
		t.Fatalf("relayed room: %+v; want live and relayed", info)
	}
	m, err := NewManager(Options{SFU: media, Server: hls.NewServer(nil)})
	if err != nil {
		t.Fatal(err)
	}
	m.sync(context.Background(), time.Now())
	if rooms := m.Rooms(); len(rooms) != 0 {
		t.Errorf("bridged rooms %v; want none (the relayed room is transcoded at its origin)", rooms)
	}
}
