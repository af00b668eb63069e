package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	srt "github.com/datarhei/gosrt"

	"github.com/glint-video/glint/sfu"
)

type srtListener = srt.Listener

// srtPeerIdle is how long an SRT peer may send nothing at all (not even keepalives) before
// gosrt drops it: libsrt's default.
const srtPeerIdle = 5 * time.Second

func listenSRT(addr string) (srt.Listener, error) {
	cfg := srt.DefaultConfig()
	cfg.PeerIdleTimeout = srtPeerIdle
	return srt.Listen("srt", addr, cfg)
}

// acceptSRT answers SRT handshakes until the listener closes: a publisher is refused at the
// handshake for a bad streamid, passphrase or key, or a room another ingest stream holds.
func (s *Server) acceptSRT(ctx context.Context) {
	for {
		req, err := s.srt.Accept2()
		if err != nil {
			if !errors.Is(err, srt.ErrListenerClosed) && ctx.Err() == nil {
				s.log.Error("srt listener failed", "err", err.Error())
			}
			return
		}
		id := s.nextID("srt")
		log := s.log.With("conn", id, "proto", "srt", "remote", req.RemoteAddr().String())
		st, reason, err := s.admitSRT(req, id, &log)
		if err != nil {
			req.Reject(reason)
			log.Warn("srt publish refused", "err", err.Error(), "reject", int(reason))
			continue
		}
		conn, err := req.Accept()
		if err != nil {
			s.release(st)
			log.Warn("srt accept failed", "err", err.Error())
			continue
		}
		if !s.track(id, conn) {
			_ = conn.Close()
			s.release(st)
			return
		}
		go func() {
			defer s.untrack(id)
			s.serveSRT(conn, st, log)
		}()
	}
}

// admitSRT decides on a handshake and claims the room; it returns the rejection reason
// with the error.
func (s *Server) admitSRT(req srt.ConnRequest, id string, log **slog.Logger) (*stream, srt.RejectionReason, error) {
	room, key, err := srtTarget(req.StreamId())
	if err != nil {
		return nil, srt.REJX_BAD_REQUEST, err
	}
	*log = (*log).With("room", room)
	switch {
	case s.cfg.Passphrase == "" && req.IsEncrypted():
		return nil, srt.REJ_UNSECURE, errors.New("srt: caller encrypts but no passphrase is configured")
	case s.cfg.Passphrase != "" && !req.IsEncrypted():
		return nil, srt.REJ_UNSECURE, errors.New("srt: passphrase required")
	case s.cfg.Passphrase != "":
		if err := req.SetPassphrase(s.cfg.Passphrase); err != nil {
			return nil, srt.REJ_BADSECRET, fmt.Errorf("srt: wrong passphrase: %w", err)
		}
	}
	if err := s.authorize("srt", req.RemoteAddr().String(), room, key); err != nil {
		return nil, srt.REJX_UNAUTHORIZED, err
	}
	st, err := s.claim(room, "srt", id, req.RemoteAddr().String(), *log)
	if err != nil {
		return nil, srt.REJX_CONFLICT, err
	}
	return st, 0, nil
}

// serveSRT demuxes one SRT publisher's MPEG-TS into its room and logs why it ended.
func (s *Server) serveSRT(conn srt.Conn, st *stream, log *slog.Logger) {
	wd := newWatchdog(s.cfg.IdleTimeout, func() { _ = conn.Close() })
	st.watch, st.closeConn = wd, func() { _ = conn.Close() }
	defer func() {
		wd.stop()
		_ = conn.Close()
		s.release(st)
		if p := recover(); p != nil {
			log.Error("srt connection panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	log.Info("srt publisher connected")
	err := runTS(conn, st)
	switch {
	case wd.Fired():
		err = fmt.Errorf("%w: no media for %s, peer stalled (%v)", ErrIdle, s.cfg.IdleTimeout, err)
	case errors.Is(err, sfu.ErrRoomBusy):
	case st.pub != nil && st.pub.Context().Err() != nil:
		err = fmt.Errorf("room publisher session ended (replaced, or server shutting down): %w", err)
	}
	logEnd(log, err)
}
