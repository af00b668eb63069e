package events

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/glint-video/glint/config"
)

// WebSocket timing: a ping every pingEvery, a peer silent for readTimeout is gone, and a
// write that takes longer than writeTimeout ends the socket.
const (
	pingEvery    = 20 * time.Second
	readTimeout  = 60 * time.Second
	writeTimeout = 5 * time.Second
)

// handleWebSocket serves GET /ws/rooms/{room}.
func (h *Hub) handleWebSocket(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !config.ValidRoomName(room) {
		httpError(w, http.StatusBadRequest, "invalid room name: 1-64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit")
		return
	}
	up := websocket.Upgrader{
		ReadBufferSize: 1024, WriteBufferSize: 4096, HandshakeTimeout: 10 * time.Second,
		CheckOrigin: h.checkOrigin,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			httpError(w, status, "websocket: "+reason.Error())
		},
	}
	h.mu.Lock()
	full := h.rooms[room] != nil && len(h.rooms[room].subs) >= h.opts.Settings.EventSockets
	h.mu.Unlock()
	if full {
		w.Header().Set("Retry-After", "10")
		httpError(w, http.StatusServiceUnavailable, "room has as many event sockets as allowed (--event-sockets)")
		return
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	h.serveSocket(conn, room)
}

// checkOrigin allows the configured page origin (any when "*" or unset) and clients that
// send no Origin (not browsers).
func (h *Hub) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	allowed := h.opts.AllowedOrigin
	if origin == "" || allowed == "" || allowed == "*" {
		return true
	}
	if strings.EqualFold(origin, allowed) {
		return true
	}
	return strings.EqualFold(origin, "http://"+r.Host) || strings.EqualFold(origin, "https://"+r.Host)
}

// serveSocket runs one WebSocket until either side ends it.
func (h *Hub) serveSocket(conn *websocket.Conn, room string) {
	s := newSubscriber(newID(), room, func(code int, reason string) {
		msg := websocket.FormatCloseMessage(code, reason)
		_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		_ = conn.Close()
	})
	log := h.log.With("room", room, "socket", s.id, "peer", conn.RemoteAddr().String())
	if err := h.start(s); err != nil {
		log.Info("events: socket refused", "err", err)
		s.close(closeTryAgainLater, shorten(err.Error()))
		return
	}
	defer h.detach(s)
	log.Debug("events: socket open")
	go h.writeLoop(conn, s)
	conn.SetReadLimit(16 * MaxMessageBytes) // beyond this gorilla itself closes with 1009
	_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(readTimeout)) })
	for {
		typ, rd, err := conn.NextReader()
		if err != nil {
			s.close(closeGoingAway, "")
			log.Debug("events: socket closed", "err", err)
			return
		}
		at := h.now()
		data, err := io.ReadAll(io.LimitReader(rd, MaxMessageBytes+1))
		switch {
		case err != nil:
			s.close(closeInvalidData, "unreadable message")
			return
		case len(data) > MaxMessageBytes:
			log.Info("events: message over the size limit, socket closed")
			s.close(closeTooBig, "message larger than 4096 bytes")
			return
		case typ != websocket.TextMessage:
			s.close(closeUnsupported, "binary messages are not supported: send JSON text")
			return
		}
		_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
		reply, err := s.handle(data, at, h.now)
		var pe *protocolError
		if errors.As(err, &pe) {
			log.Info("events: bad message, socket closed", "reason", pe.reason)
			s.close(pe.code, pe.reason)
			return
		}
		if reply != nil {
			s.send(reply)
		}
	}
}

// closeTryAgainLater (1013) tells a client the server cannot take it now.
const closeTryAgainLater = 1013

// writeLoop writes queued messages and keepalive pings until the subscriber closes.
func (h *Hub) writeLoop(conn *websocket.Conn, s *subscriber) {
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-s.done:
			return
		case msg := <-s.queue:
			_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				s.close(closeGoingAway, "write failed")
				return
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				s.close(closeGoingAway, "ping failed")
				return
			}
		}
	}
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
