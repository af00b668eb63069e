package events

import (
	"errors"

	"github.com/pion/webrtc/v4"
)

// DataChannelLabel is the label of the event channel a WHEP viewer opens on its
// PeerConnection; the messages are those of the WebSocket (text, one JSON object each).
const DataChannelLabel = "glint-events"

// maxBuffered is how much a data channel may hold unsent before its viewer counts as too
// slow and the channel is closed.
const maxBuffered = 1 << 20

// ServeDataChannel runs the event channel on a WHEP viewer's data channel labelled
// DataChannelLabel (others are left alone): sfu.Options.ViewerDataChannel.
func (h *Hub) ServeDataChannel(room, session string, dc *webrtc.DataChannel) {
	if dc.Label() != DataChannelLabel {
		return
	}
	log := h.log.With("room", room, "session", session)
	s := newSubscriber(newID(), room, func(code int, reason string) {
		if reason != "" && dc.ReadyState() == webrtc.DataChannelStateOpen {
			_ = dc.SendText(string(mustMarshal(errorMessage{"error", reason})))
		}
		_ = dc.Close()
	})
	dc.OnOpen(func() {
		if err := h.start(s); err != nil {
			log.Info("events: data channel refused", "err", err)
			s.close(closeTryAgainLater, shorten(err.Error()))
			return
		}
		log.Debug("events: data channel open", "channel", s.id)
		go h.dataChannelWriter(dc, s)
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		at := h.now()
		switch {
		case len(m.Data) > MaxMessageBytes:
			s.close(closeTooBig, "message larger than 4096 bytes")
			return
		case !m.IsString:
			s.close(closeUnsupported, "binary messages are not supported: send JSON text")
			return
		}
		reply, err := s.handle(m.Data, at, h.now)
		var pe *protocolError
		if errors.As(err, &pe) {
			s.close(pe.code, pe.reason)
			return
		}
		if reply != nil {
			s.send(reply)
		}
	})
	dc.OnClose(func() {
		s.close(closeGoingAway, "")
		h.detach(s)
	})
}

// dataChannelWriter sends queued messages until the subscriber closes.
func (h *Hub) dataChannelWriter(dc *webrtc.DataChannel, s *subscriber) {
	for {
		select {
		case <-s.done:
			return
		case msg := <-s.queue:
			if dc.BufferedAmount() > maxBuffered {
				s.close(closePolicy, "send buffer full: reading too slowly")
				return
			}
			if err := dc.SendText(string(msg)); err != nil {
				s.close(closeGoingAway, "")
				return
			}
		}
	}
}
