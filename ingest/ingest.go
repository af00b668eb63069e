// Package ingest owns Glint's RTMP and SRT servers: it accepts publishers (OBS, ffmpeg,
// hardware encoders), checks their stream keys, demuxes FLV and MPEG-TS into H.264 access
// units and audio frames on one clock per connection, and publishes them into an SFU room
// through sfu.PublishLocal as RTP, exactly as a WHIP publisher's packets would arrive.
//
// # Addresses and keys
//
//   - RTMP: rtmp://host/{app}/{room}?key=K or rtmp://host/{app}/{room}/{K}. The app
//     ("live" by convention) is not checked; with OBS set Server to rtmp://host/live and
//     Stream Key to "{room}?key=K" (or "{room}/K"). rtmp://host/{room} also works (ffmpeg
//     then uses the room as both app and stream name).
//   - SRT: streamid "publish:{room}", "publish:{room}/{K}", or the SRT access-control form
//     "#!::r={room},m=publish" with the key in "s=K" (or "key=K"). Any other mode
//     (reading) is rejected: ingest only takes publishers.
//   - Config.StreamKeys maps a room to its key; the entry "*" is the key of every room not
//     listed. With no keys at all ingest is open (any room, any key): that is the zero-config
//     default. With keys, a room that has no entry and no "*" is refused.
//   - Config.Auth, when set, checks keys instead (auth.Authorizer.AuthorizeIngest): a key
//     may then also be a room token or a publish token, and with any auth configured a
//     publisher without a valid key is refused (docs/auth.md).
//   - Config.Passphrase, when set, is the SRT passphrase (AES) required of every SRT
//     publisher; unencrypted callers are rejected, and so are encrypted ones when unset.
//
// # Policy
//
// One publisher per room: each connection claims its room in the room directory
// (cluster.Ingest, Config.Directory) at connect, so a second ingest connection to a room held
// by another ingest connection is refused at connect (RTMP: an onStatus error, SRT: handshake rejection with
// REJX_CONFLICT); a room held by a WHIP publisher shows up as sfu.ErrRoomBusy from
// PublishLocal once the stream's codecs are known and that connection is closed with the same
// error. A publisher that reconnects after its connection ended resumes the room; viewers
// keep their sessions (the SFU keeps a room's slots across publishers).
//
// # Codecs
//
// H.264 video is packetized (RFC 6184, packetization-mode 1, MTU 1200, SPS/PPS before every
// IDR). Streams with B-frames are re-encoded for WebRTC by transcoder.Reencoder, reported by
// Status and logged. AAC is converted to Opus 48 kHz by transcoder.AudioConverter; Opus in
// MPEG-TS (and Enhanced RTMP) passes through. H.265 and AV1 (Enhanced RTMP; MPEG-TS: H.265,
// and AV1 per AOM's mapping, ts_av1.go) are published as they are with Config.NativeCodecs
// (native.go), else re-encoded to H.264 (recode.go); VP9, other
// codecs and multitrack Enhanced RTMP are refused with a clear log line and error. RTMP and SRT encoders cannot be asked for a
// keyframe: the SFU's keyframe requests only reach the re-encoder, when one runs; otherwise
// viewers joining wait for the encoder's next IDR (its GOP length).
//
// # Timestamps and bad input
//
// FLV's 32-bit millisecond timestamps (31-bit from ffmpeg) and MPEG-TS's 33-bit 90 kHz ones
// are unwrapped; one clock per connection maps both tracks onto one timeline, and a jump of
// over 5 s (an encoder restart) is rebased to one frame after the last, moving audio and
// video alike. A connection that completes no handshake or delivers no media for
// Config.IdleTimeout (garbage, truncated handshakes, stalled SRT peers: gosrt ignores read
// deadlines, so a watchdog closes it), sends no IDR within Config.KeyframeTimeout, or no
// MPEG-TS program within 4 MB is closed with one log line; a panic in a connection is
// recovered and logged. Every connection's goroutine ends by the time Serve returns.
//
// # Libraries
//
//   - github.com/bluenviron/gortmplib: maintained (MediaMTX's RTMP stack), server side with
//     Enhanced RTMP message types, bounded message sizes and chunk sizes; yutopp/go-rtmp is
//     unmaintained and knows no Enhanced RTMP.
//   - github.com/datarhei/gosrt: the only pure-Go SRT implementation in production use
//     (datarhei Restreamer), listener with streamid and passphrase checks before accept, so
//     no cgo libsrt.
//   - github.com/bluenviron/mediacommon/v2: MPEG-TS demuxing (on asticode/go-astits) that
//     resyncs on garbage, H.264 SPS/AVCC/Annex-B and AAC config parsing, 33-bit timestamp
//     unwrapping; the same author as gortmplib, so the two agree on types.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/sfu"
)

// Publisher is where ingested streams go: *sfu.SFU.
type Publisher interface {
	PublishLocal(room string, video, audio *webrtc.RTPCodecParameters, onKeyframe func()) (*sfu.LocalPublisher, error)
}

// Config configures a Server. Empty RTMPAddr or SRTAddr disables that protocol.
type Config struct {
	RTMPAddr string // e.g. ":1935"
	SRTAddr  string // e.g. ":9000" (UDP)
	// StreamKeys maps room → key; "*" is the key of every room not listed. Empty: open.
	StreamKeys map[string]string
	// Auth checks publishers' keys; nil: an Authorizer of StreamKeys alone.
	Auth *auth.Authorizer
	// Passphrase is the SRT passphrase (10-79 characters) every SRT publisher must use.
	Passphrase string
	// IdleTimeout closes a connection that completes no handshake or delivers no media for
	// this long (garbage, truncated handshakes, stalled peers). Default 10 s.
	IdleTimeout time.Duration
	// KeyframeTimeout closes a stream whose first IDR has not come this long after connect.
	// Default 15 s.
	KeyframeTimeout time.Duration
	// Transcode opens converters; nil fields take package transcoder's.
	Transcode Transcode
	// Directory records which connection holds each room (cluster.Ingest claims); nil
	// means a cluster.Memory of this server alone. Share the SFU's in a node.
	Directory cluster.Directory
	// Backup accepts a second connection to a room held on this node as the room's backup
	// (publisher_policy backup; ingest/backup.go); BackupRoom, when set, decides per room.
	Backup     bool
	BackupRoom func(room string) bool
	// RelayToOwner keeps a connection to a room that another node holds instead of refusing
	// it: its stream publishes here and the SFU pushes it to the owner (sfu/backup_remote.go).
	RelayToOwner bool
	// NativeCodecs publishes H.265 (Main) and AV1 (Main) sources into their rooms as they
	// are (native.go) rather than re-encoding them to H.264 here: set it when LL-HLS runs,
	// whose ladder makes the rooms' alternate H.264 video for WebRTC viewers without the codec.
	NativeCodecs bool
	Log          *slog.Logger
}

// Errors a publisher is refused with (wrapped).
var (
	ErrBadKey           = errors.New("wrong stream key")
	ErrBadStreamName    = errors.New("bad stream name")
	ErrRoomBusy         = fmt.Errorf("ingest: %w", sfu.ErrRoomBusy)
	ErrUnsupportedCodec = errors.New("unsupported codec")
	ErrNoKeyframe       = errors.New("no keyframe")
	ErrIdle             = errors.New("idle")
)

// StreamStatus describes one ingest connection that holds a room.
type StreamStatus struct {
	Room     string    `json:"room"`
	Protocol string    `json:"protocol"` // "rtmp" or "srt"
	Conn     string    `json:"conn"`
	Remote   string    `json:"remote"`
	Since    time.Time `json:"since"`
	Video    string    `json:"video,omitempty"` // e.g. "h264 42c00d"
	Audio    string    `json:"audio,omitempty"` // e.g. "aac→opus", "opus", "none (…)"
	// Mode is "starting" (waiting for the first keyframe), "passthrough",
	// "reencoding: b-frames", or "passthrough: b-frames (…)" when no re-encoder could open;
	// for H.265/AV1 "native: h265" / "native: av1" (Config.NativeCodecs) or
	// "reencoding: h265" / "reencoding: av1".
	Mode string `json:"mode"`
	// Stats are the stream's counters, read when Status is called.
	Stats StreamStats `json:"stats"`
}

// Server runs the RTMP and SRT listeners.
type Server struct {
	cfg   Config
	rooms Publisher
	log   *slog.Logger
	rtmp  net.Listener
	srt   srtListener
	ids   atomic.Uint64

	mu      sync.Mutex
	streams map[string]*stream       // by room
	claims  map[string]cluster.Claim // their claims in the directory, by room
	conns   map[string]io.Closer
	closing bool
	wg      sync.WaitGroup
}

// New binds the listeners; Serve must be called to serve them and to release them.
func New(cfg Config, rooms Publisher) (*Server, error) {
	if rooms == nil {
		return nil, errors.New("ingest: no publisher")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Directory == nil {
		cfg.Directory = cluster.NewMemory(cluster.DefaultNode)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Second
	}
	if cfg.KeyframeTimeout <= 0 {
		cfg.KeyframeTimeout = 15 * time.Second
	}
	if p := len(cfg.Passphrase); p != 0 && (p < 10 || p > 79) {
		return nil, fmt.Errorf("ingest: srt passphrase: %d characters, must be 10-79", p)
	}
	cfg.Transcode = cfg.Transcode.withDefaults()
	if cfg.Auth == nil {
		a, err := auth.New(auth.Options{StreamKeys: cfg.StreamKeys, Log: cfg.Log})
		if err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
		cfg.Auth = a
	}
	s := &Server{cfg: cfg, rooms: rooms, log: cfg.Log, streams: map[string]*stream{}, claims: map[string]cluster.Claim{}, conns: map[string]io.Closer{}}
	if cfg.RTMPAddr != "" {
		ln, err := net.Listen("tcp", cfg.RTMPAddr)
		if err != nil {
			return nil, fmt.Errorf("ingest: rtmp listen: %w", err)
		}
		s.rtmp = ln
	}
	if cfg.SRTAddr != "" {
		ln, err := listenSRT(cfg.SRTAddr)
		if err != nil {
			if s.rtmp != nil {
				_ = s.rtmp.Close()
			}
			return nil, fmt.Errorf("ingest: srt listen: %w", err)
		}
		s.srt = ln
	}
	return s, nil
}

// RTMPAddr is the bound RTMP address (nil when disabled).
func (s *Server) RTMPAddr() net.Addr {
	if s.rtmp == nil {
		return nil
	}
	return s.rtmp.Addr()
}

// SRTAddr is the bound SRT (UDP) address (nil when disabled).
func (s *Server) SRTAddr() net.Addr {
	if s.srt == nil {
		return nil
	}
	return s.srt.Addr()
}

// Serve accepts publishers until ctx ends, then closes the listeners and every connection
// and returns once all of their goroutines have ended.
func (s *Server) Serve(ctx context.Context) error {
	var loops sync.WaitGroup
	if s.rtmp != nil {
		s.log.Info("rtmp ingest listening", "addr", s.rtmp.Addr().String())
		loops.Go(func() { s.acceptRTMP(ctx) })
	}
	if s.srt != nil {
		s.log.Info("srt ingest listening", "addr", s.srt.Addr().String())
		loops.Go(func() { s.acceptSRT(ctx) })
	}
	<-ctx.Done()
	s.mu.Lock()
	s.closing = true
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.Close()
	loops.Wait()
	s.wg.Wait()
	return nil
}

// Register mounts GET /api/ingest (Status as JSON) on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/ingest", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Status())
	})
}

// Close releases the listeners of a Server whose Serve will not run (Serve releases them
// otherwise).
func (s *Server) Close() {
	if s.rtmp != nil {
		_ = s.rtmp.Close()
	}
	if s.srt != nil {
		s.srt.Close()
	}
}

// Status lists the rooms held by ingest connections, by room name.
func (s *Server) Status() []StreamStatus {
	s.mu.Lock()
	out := make([]StreamStatus, 0, len(s.streams))
	for _, st := range s.streams {
		status := st.status
		status.Stats = st.stats.snapshot()
		out = append(out, status)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out
}

func (s *Server) nextID(proto string) string {
	return proto + "-" + strconv.FormatUint(s.ids.Add(1), 10)
}

// track registers a connection so that Serve can close it; false when shutting down.
func (s *Server) track(id string, c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[id] = c
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(id string) {
	s.mu.Lock()
	delete(s.conns, id)
	s.mu.Unlock()
	s.wg.Done()
}

// claim reserves room for a new stream in the room directory, or fails with ErrRoomBusy
// naming the connection that holds it.
func (s *Server) claim(room, proto, conn, remote string, log *slog.Logger) (*stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.cfg.Directory.Claim(context.Background(), cluster.Request{Room: room, Kind: cluster.Ingest, Holder: conn,
		OnLost: func(_ cluster.Claim, err error) { s.closeLost(conn, log, err) }})
	if ce := (*cluster.ClaimedError)(nil); errors.As(err, &ce) {
		if st := s.standbyStream(room, proto, conn, remote, log, err); st != nil {
			return st, nil
		}
		if st := s.ownerElsewhereStream(room, proto, conn, remote, log, ce.Owner); st != nil {
			return st, nil
		}
		return nil, fmt.Errorf("%w (held by %s)", ErrRoomBusy, ce.Owner)
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: claim %q: %w", room, err)
	}
	st := s.newStreamLocked(room, room, proto, conn, remote, log)
	s.claims[room] = c
	return st, nil
}

// newStreamLocked makes a stream of room kept under key in s.streams. Called with s.mu held.
func (s *Server) newStreamLocked(room, key, proto, conn, remote string, log *slog.Logger) *stream {
	st := newStream(s, log)
	st.room, st.key = room, key
	st.status = StreamStatus{Room: room, Protocol: proto, Conn: conn, Remote: remote, Since: time.Now(), Mode: "starting"}
	s.streams[key] = st
	return st
}

// closeLost ends a connection whose claim another node took (the directory fenced it).
func (s *Server) closeLost(conn string, log *slog.Logger, err error) {
	s.mu.Lock()
	c := s.conns[conn]
	s.mu.Unlock()
	if c != nil {
		log.Error("room taken by another node: ending the ingest", "err", err.Error())
		_ = c.Close()
	}
}

func (s *Server) release(st *stream) {
	st.close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if key := st.key; s.streams[key] == st {
		c, claimed := s.claims[key]
		delete(s.streams, key)
		delete(s.claims, key)
		if !claimed {
			return // a backup stream holds no claim
		}
		if err := s.cfg.Directory.Release(context.Background(), c); err != nil {
			st.log.Warn("room directory: ingest claim already gone", "err", err.Error())
		}
	}
}

// updateStatus changes a stream's reported status under the server's lock.
func (s *Server) updateStatus(st *stream, f func(*StreamStatus)) {
	s.mu.Lock()
	f(&st.status)
	s.mu.Unlock()
}

// logEnd writes the one line that says why a connection ended.
func logEnd(log *slog.Logger, err error) {
	switch {
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, errUnpublished):
		log.Info("publisher disconnected")
	case errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled):
		log.Info("connection closed", "reason", err.Error())
	default:
		log.Warn("connection ended", "err", err.Error())
	}
}
