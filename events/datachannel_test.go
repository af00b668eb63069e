package events_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/events"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/sfu"
)

// TestDataChannelEvents: a WHEP viewer (pion) that opens a "glint-events" data channel in
// its offer gets the hello, the room's events, clock pongs and a posted timed event on it.
func TestDataChannelEvents(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	var hub *events.Hub
	n := testnode.Start(t, testnode.Options{SFU: func(o *sfu.Options) {
		o.ViewerDataChannel = func(room, session string, dc *webrtc.DataChannel) { hub.ServeDataChannel(room, session, dc) }
	}})
	hub = events.New(events.Options{Settings: config.Defaults().Events, Rooms: n.SFU, Logger: n.Log})
	hub.Register(n.Mux)
	n.Publish(t, ctx, "dc")

	se := testkit.LoopbackSettingEngine()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	dc, err := pc.CreateDataChannel(events.DataChannelLabel, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan map[string]any, 64)
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		var v map[string]any
		if json.Unmarshal(m.Data, &v) == nil {
			msgs <- v
		}
	})
	dc.OnOpen(func() { _ = dc.SendText(`{"kind":"ping","t0":12.5}`) })
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	resp, err := http.Post(n.WHEP("dc"), "application/sdp", strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", resp.StatusCode, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatal(err)
	}

	want := map[string]bool{"hello": false, "pong": false, "room": false, "event": false}
	posted := false
	for {
		select {
		case <-ctx.Done():
			t.Fatalf("data channel messages seen: %v", want)
		case m := <-msgs:
			kind, _ := m["kind"].(string)
			want[kind] = true
			if kind == "pong" && m["t0"] != 12.5 {
				t.Fatalf("pong %v: want t0 12.5", m)
			}
			if kind == "event" && m["event"].(map[string]any)["type"] != "lot-sold" {
				t.Fatalf("event %v", m)
			}
		}
		if want["hello"] && !posted {
			posted = true
			body := `{"type":"lot-sold","payload":{"lot":7},"at":` + jsonMs(time.Now()) + `}`
			resp, err := http.Post(n.URL+"/api/rooms/dc/events", "application/json", strings.NewReader(body))
			if err != nil || resp.StatusCode != http.StatusCreated {
				t.Fatalf("post event: %v %v", err, resp)
			}
			resp.Body.Close()
		}
		if want["hello"] && want["pong"] && want["room"] && want["event"] {
			return
		}
	}
}

func jsonMs(t time.Time) string { b, _ := json.Marshal(t.UnixMilli()); return string(b) }
