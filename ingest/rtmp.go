package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/glint-video/glint/sfu"
)

// acceptRTMP accepts TCP connections until the listener closes.
func (s *Server) acceptRTMP(ctx context.Context) {
	for {
		nc, err := s.rtmp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			s.log.Warn("rtmp accept", "err", err.Error())
			select {
			case <-time.After(50 * time.Millisecond): // e.g. out of file descriptors
			case <-ctx.Done():
				return
			}
			continue
		}
		id := s.nextID("rtmp")
		if !s.track(id, nc) {
			_ = nc.Close()
			return
		}
		go func() {
			defer s.untrack(id)
			s.serveRTMP(nc, id)
		}()
	}
}

// serveRTMP runs one RTMP connection to its end and logs why it ended.
func (s *Server) serveRTMP(nc net.Conn, id string) {
	log := s.log.With("conn", id, "proto", "rtmp", "remote", nc.RemoteAddr().String())
	wd := newWatchdog(s.cfg.IdleTimeout, func() { _ = nc.Close() })
	defer func() {
		wd.stop()
		_ = nc.Close()
		if p := recover(); p != nil {
			log.Error("rtmp connection panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	log.Debug("rtmp connection")
	err := s.rtmpSession(nc, id, wd, &log)
	if wd.Fired() {
		err = fmt.Errorf("%w: no handshake or media for %s (%v)", ErrIdle, s.cfg.IdleTimeout, err)
	}
	logEnd(log, err)
}

// rtmpSession does the handshake and connect, checks the stream name and key, claims the
// room, and pumps messages into the stream.
func (s *Server) rtmpSession(nc net.Conn, id string, wd *watchdog, log **slog.Logger) error {
	sc := &gortmplib.ServerConn{RW: nc}
	if err := sc.Initialize(); err != nil {
		return fmt.Errorf("rtmp handshake: %w", err)
	}
	if err := sc.AcceptConn(); err != nil {
		return fmt.Errorf("rtmp connect: %w", err)
	}
	if !sc.Publish {
		rejectRTMP(sc, "NetStream.Play.Failed", "this server takes publishers only; watch over WHEP or HLS")
		return errors.New("rtmp play refused: ingest takes publishers only")
	}
	room, key, err := rtmpTarget(sc.URL)
	if err == nil {
		*log = (*log).With("room", room)
		err = s.authorize("rtmp", nc.RemoteAddr().String(), room, key)
	}
	var st *stream
	if err == nil {
		st, err = s.claim(room, "rtmp", id, nc.RemoteAddr().String(), *log)
	}
	if err != nil {
		rejectRTMP(sc, rtmpErrorCode(err), err.Error())
		return fmt.Errorf("rtmp publish refused: %w", err)
	}
	defer s.release(st)
	st.watch, st.closeConn = wd, func() { _ = nc.Close() }
	if err := sc.AcceptAction(); err != nil {
		return fmt.Errorf("rtmp publish: %w", err)
	}
	(*log).Info("rtmp publisher connected")
	dm := &flvDemuxer{st: st}
	for {
		msg, err := sc.Read()
		if err != nil {
			if st.pub != nil && st.pub.Context().Err() != nil {
				return fmt.Errorf("room publisher session ended (replaced, or server shutting down): %w", err)
			}
			return fmt.Errorf("rtmp read: %w", err)
		}
		if err := dm.handle(msg); err != nil {
			if !errors.Is(err, errUnpublished) {
				rejectRTMP(sc, rtmpErrorCode(err), err.Error())
			}
			return err
		}
	}
}

// rtmpErrorCode is the onStatus code for a refusal.
func rtmpErrorCode(err error) string {
	switch {
	case errors.Is(err, ErrBadKey):
		return "NetStream.Publish.Unauthorized"
	case errors.Is(err, sfu.ErrRoomBusy), errors.Is(err, ErrBadStreamName):
		return "NetStream.Publish.BadName"
	}
	return "NetStream.Publish.Rejected"
}

// rejectRTMP tells the client why its publish failed (ffmpeg prints the description and
// exits, OBS shows it); the caller then closes the connection.
func rejectRTMP(sc *gortmplib.ServerConn, code, description string) {
	_ = sc.Write(&message.CommandAMF0{
		ChunkStreamID: 5, MessageStreamID: 0x1000000, Name: "onStatus",
		Arguments: []any{nil, amf0.Object{
			{Key: "level", Value: "error"},
			{Key: "code", Value: code},
			{Key: "description", Value: description},
		}},
	})
}
