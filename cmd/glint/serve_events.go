package main

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/events"
	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/hlsbridge"
)

// eventClass is the DATERANGE CLASS and emsg scheme_id_uri of Glint's timed events.
const eventClass = "urn:glint:event:2026"

// addEvents adds the clock and event channel (/ws/rooms/{room}), timed events and fair
// actions; with LL-HLS on, events are stamped with the capture time of the frame on air and
// placed in the room's LL-HLS (EXT-X-DATERANGE, emsg).
func (n *node) addEvents() {
	opts := events.Options{
		Settings: n.cfg.Events,
		Rooms:    n.sfu,
		// Who may post events and actions is decided in front of every handler
		// (auth.Authorizer.Protect: publish for events, subscribe for actions).
		Authorize:     nil,
		AllowedOrigin: n.cfg.CORSOrigin,
		Targets: func(room string) events.Targets { // the room's latency policy (config/latency.go)
			s := n.cfg.RoomSettings(room)
			return events.Targets{Sync: s.Latency == config.LatencySync, WebRTC: s.SyncDelay, HLS: s.SyncHLSDelay}
		},
		Logger: n.log,
	}
	if n.bridges != nil {
		media := hlsEvents{n.bridges, n.log}
		opts.OnAir, opts.Marker = media, media
	}
	n.events = events.New(opts)
	n.events.Register(n.mux)
	n.services = append(n.services, n.events.Run)
}

// serveDataChannel hands a WHEP viewer's data channel to the event hub (set before the
// node serves, so before any viewer connects).
func (n *node) serveDataChannel(room, session string, dc *webrtc.DataChannel) {
	if n.events != nil {
		n.events.ServeDataChannel(room, session, dc)
	}
}

// hlsEvents is the events' media side on the LL-HLS bridges.
type hlsEvents struct {
	m   *hlsbridge.Manager
	log *slog.Logger
}

func (h hlsEvents) OnAir(room string) (time.Time, bool) { return h.m.OnAir(room) }

// Mark puts the event, as it goes on the WebSocket, into the room's LL-HLS.
func (h hlsEvents) Mark(room string, e events.Event) {
	data, err := json.Marshal(e)
	if err == nil {
		err = h.m.AddDateRange(room, hls.DateRange{ID: e.ID, Class: eventClass, Value: e.Type, Start: e.Capture(), Data: data})
	}
	if err != nil { // e.g. a room not live: its LL-HLS has no stream to mark
		h.log.Info("events: event not placed in LL-HLS", "room", room, "id", e.ID, "err", err)
	}
}
