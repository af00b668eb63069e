package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/transcoder"
)

// roomPublisher is what a stream writes into: *sfu.LocalPublisher.
type roomPublisher interface {
	WriteRTP(kind string, pkt []byte) error
	Context() context.Context
	Close()
}

// senderReporter is a publisher that takes the source timing of its tracks for the viewers'
// RTCP sender reports (*sfu.LocalPublisher; fakes in tests may lack it).
type senderReporter interface {
	SetSenderReport(kind string, wall time.Time, rtpTS uint32)
}

// publishFunc opens a room's publisher (Server.publish, or a fake in fuzz tests).
type publishFunc func(room string, video, audio *webrtc.RTPCodecParameters, onKeyframe func()) (roomPublisher, error)

// audioIn describes a declared audio track: "aac" (raw frames, asc is its
// AudioSpecificConfig) or "opus".
type audioIn struct {
	codec                string
	sampleRate, channels int
	asc                  []byte
}

// stream is one publishing connection's path into its room. Its demuxer declares the
// tracks; the first coded frame fixes them; the first IDR opens the room's publisher; then
// every access unit and audio frame becomes RTP. All methods but onKeyframe run on the
// connection's goroutine.
type stream struct {
	srv     *Server
	log     *slog.Logger
	room    string
	key     string // in Server.streams: the room, or its backup key (ingest/backup.go)
	publish publishFunc
	status  StreamStatus // guarded by srv.mu
	created time.Time
	watch   *watchdog // nil in fuzz tests
	stats   streamStats

	clock                  clock
	wall                   wallAnchor
	params, reencoded      h264Params
	recoded                recodedSource // an H.265 or AV1 source (always re-encoded); nil for H.264
	hasVideo, fixed        bool
	audio                  *audioIn
	pub                    roomPublisher
	video, opus            *rtpSender
	reenc                  VideoReencoder
	native                 nativeSender // an H.265 or AV1 source sent as it is (native.go)
	conv                   AudioConverter
	reorders, lateReorders bool
	keyframeWanted         atomic.Bool
	keyframeNoted          bool
	softErrors             int
	stopWatch              func() bool
	closeConn              func()
}

func newStream(srv *Server, log *slog.Logger) *stream {
	return &stream{srv: srv, log: log, publish: srv.publish, created: time.Now(), closeConn: func() {}}
}

// publish opens the room's publisher in the SFU.
func (s *Server) publish(room string, video, audio *webrtc.RTPCodecParameters, onKeyframe func()) (roomPublisher, error) {
	p, err := s.rooms.PublishLocal(room, video, audio, onKeyframe)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// declareVideo says the stream has an H.264 track, with its SPS and PPS when known.
func (s *stream) declareVideo(sps, pps []byte) {
	if s.fixed && !s.hasVideo {
		s.log.Warn("video track announced after media started: ignored")
		return
	}
	s.hasVideo = true
	if !s.fixed {
		s.recoded = nil // an H.264 sequence header after another codec's: the encoder changed its mind
	}
	s.params.update([][]byte{sps, pps})
}

// declareAudio says the stream has an audio track.
func (s *stream) declareAudio(a audioIn) {
	if s.fixed && s.audio == nil {
		s.log.Warn("audio track announced after media started: ignored", "codec", a.codec)
		return
	}
	if !s.fixed {
		s.audio = &a
	}
}

// videoAU takes one H.264 access unit (or, with s.recoded set, an H.265 access unit or AV1
// temporal unit) with unwrapped 90 kHz times.
func (s *stream) videoAU(pts, dts int64, au [][]byte) error {
	s.watch.kick()
	s.fixed = true
	if !s.hasVideo {
		return nil
	}
	if s.recoded != nil {
		s.recoded.update(au)
	} else {
		s.params.update(au)
	}
	size := 0
	for _, n := range au {
		size += len(n)
	}
	s.stats.frame(true, size)
	d := s.clock.dts(dts)
	p := d + (pts - dts)
	if s.pub == nil {
		if s.recoded == nil && !isIDR(au) || s.recoded != nil && !s.recoded.isKey(au) {
			return s.checkKeyframeTimeout()
		}
		if err := s.start(pts != dts); err != nil {
			return err
		}
	}
	s.syncReport(d, p)
	if s.reenc != nil {
		return s.reencode(au, p, d)
	}
	if s.native != nil {
		return s.sendNative(au, p, d)
	}
	if pts != dts && !s.reorders && !s.lateReorders {
		s.lateReorders = true
		s.log.Warn("b-frames appeared after the stream started; passed through as they are")
		s.srv.updateStatus(s, func(st *StreamStatus) { st.Mode = "passthrough: b-frames (appeared late)" })
	}
	s.noteKeyframeRequest()
	nalus, _ := s.params.forRTP(au)
	return s.video.sendH264(uint32(p), nalus)
}

// audioFrame takes one audio frame (a raw AAC access unit or an Opus packet).
func (s *stream) audioFrame(pts int64, frame []byte) error {
	s.watch.kick()
	s.fixed = true
	if s.audio == nil {
		return nil
	}
	s.stats.frame(false, len(frame))
	p := s.clock.dts(pts)
	if s.pub == nil {
		if s.hasVideo {
			return nil // audio before the first keyframe is not sent
		}
		if err := s.start(false); err != nil {
			return err
		}
	}
	s.syncReport(p, p)
	switch {
	case s.opus == nil:
		return nil
	case s.conv == nil:
		return s.opus.send(uint32(p*48000/ticksPerSecond), false, frame)
	}
	outs, err := s.conv.Convert(transcoder.Encoded{Data: frame, PTS: media.Duration(p, ticksPerSecond), DTS: media.Duration(p, ticksPerSecond)})
	if err != nil {
		s.softError("aac to opus", err)
		return nil
	}
	for _, o := range outs {
		if err := s.opus.send(uint32(media.Ticks(o.PTS, 48000)), false, o.Data); err != nil {
			return err
		}
	}
	return nil
}

// syncReport anchors the stream's timeline to the wall clock at a frame arriving now (decode
// time dts) and, when one is due, gives the room's publisher the source timing of both tracks
// at timeline time at (the frame's presentation time): one anchor for both, so viewers'
// sender reports keep audio and video exactly as aligned as the input.
func (s *stream) syncReport(dts, at int64) {
	now := time.Now()
	before, jumps := s.wall.origin, s.clock.jumps
	s.wall.observe(now, dts)
	if !before.IsZero() && s.wall.origin.After(before) {
		s.stats.stalls.Add(1)
	}
	s.stats.jumps.Store(uint64(jumps))
	s.stats.lateNs.Store(int64(now.Sub(s.wall.at(dts))))
	sr, ok := s.pub.(senderReporter)
	if !ok || !s.wall.due(now) {
		return
	}
	wall := s.wall.at(at)
	if s.video != nil {
		sr.SetSenderReport("video", wall, s.video.base+uint32(at))
	}
	if s.opus != nil {
		sr.SetSenderReport("audio", wall, s.opus.base+uint32(at*48000/ticksPerSecond))
	}
}

func (s *stream) checkKeyframeTimeout() error {
	if d := s.srv.cfg.KeyframeTimeout; time.Since(s.created) > d {
		return fmt.Errorf("%w within %s of connecting", ErrNoKeyframe, d)
	}
	return nil
}

// start opens the room's publisher with the codecs the stream's tracks become.
func (s *stream) start(ptsReorder bool) error {
	var video, audio *webrtc.RTPCodecParameters
	st := StreamStatus{Mode: "passthrough", Audio: "none"}
	if s.recoded != nil {
		var err error
		native := false
		if st.Video, video, st.Mode, native = s.startNative(ptsReorder); !native {
			if st.Video, video, st.Mode, err = s.startRecoded(); err != nil {
				return err
			}
		}
	} else if s.hasVideo {
		if s.params.SPS == nil || s.params.PPS == nil {
			return fmt.Errorf("h264: IDR before any SPS and PPS")
		}
		desc, reorders := spsDescription(s.params.SPS)
		st.Video, video = desc, h264Codec(s.params.SPS)
		if s.reorders = reorders || ptsReorder; s.reorders {
			st.Mode = s.openReencoder()
			if s.reenc != nil {
				video = h264Codec(nil)
			}
		}
	}
	if s.audio != nil {
		st.Audio = s.openAudio()
		if st.Audio == "opus" || st.Audio == "aac→opus" {
			audio = opusCodec()
		}
	}
	if video == nil && audio == nil {
		return fmt.Errorf("%w: no track WebRTC viewers can play (audio: %s)", ErrUnsupportedCodec, st.Audio)
	}
	// The status is set before the room goes live, so whoever sees the room live (a WHEP
	// viewer, the dashboard's GET /api/dashboard) also sees what it carries.
	s.srv.updateStatus(s, func(cur *StreamStatus) { cur.Video, cur.Audio, cur.Mode = st.Video, st.Audio, st.Mode })
	pub, err := s.publish(s.room, video, audio, s.onKeyframe)
	if err != nil {
		return fmt.Errorf("publish into room %q: %w", s.room, err)
	}
	s.pub = pub
	s.stopWatch = context.AfterFunc(pub.Context(), s.closeConn)
	if video != nil {
		s.video = newRTPSender("video", videoPT, pub.WriteRTP)
	}
	if audio != nil {
		s.opus = newRTPSender("audio", audioPT, pub.WriteRTP)
	}
	s.log.Info("publishing", "video", st.Video, "audio", st.Audio, "mode", st.Mode)
	return nil
}

// openReencoder opens the B-frame re-encoder and returns the stream's mode.
func (s *stream) openReencoder() string {
	fps := 30
	var sps h264.SPS
	if sps.Unmarshal(s.params.SPS) == nil {
		if f := sps.FPS(); f > 0 && f < 240 {
			fps = int(math.Round(f))
		}
	}
	r, err := s.srv.cfg.Transcode.Reencoder("H264", fps, s.log)
	if err != nil {
		s.log.Warn("stream has b-frames and no re-encoder opened: passed through; WebRTC viewers may stutter", "err", err.Error())
		return "passthrough: b-frames (no re-encoder: " + err.Error() + ")"
	}
	s.reenc = r
	s.log.Info("reencoding: b-frames", "fps", fps)
	return "reencoding: b-frames"
}

// openAudio opens the AAC converter when needed and describes the audio path.
func (s *stream) openAudio() string {
	switch s.audio.codec {
	case "opus":
		return "opus"
	case "aac":
		c, err := s.srv.cfg.Transcode.AACToOpus(s.audio.sampleRate, s.audio.channels, s.audio.asc, s.log)
		if err != nil {
			s.log.Warn("aac audio dropped: no converter to opus", "err", err.Error())
			return "none (aac: " + err.Error() + ")"
		}
		s.conv = c
		return "aac→opus"
	}
	return "none (" + s.audio.codec + ")"
}

// reencode pushes an access unit through the re-encoder and sends what comes out.
func (s *stream) reencode(au [][]byte, pts, dts int64) error {
	if s.keyframeWanted.Swap(false) {
		s.reenc.RequestKeyframe()
	}
	data, idr, err := s.decoderInput(au)
	if err != nil {
		return err
	}
	outs, err := s.reenc.Push(transcoder.Encoded{Data: data, PTS: media.Duration(pts, ticksPerSecond), DTS: media.Duration(dts, ticksPerSecond), Keyframe: idr})
	if err != nil {
		s.softError("re-encode", err)
		return nil
	}
	for _, o := range outs {
		var nalus h264.AnnexB
		if err := nalus.Unmarshal(o.Data); err != nil {
			s.softError("re-encoder output", err)
			continue
		}
		s.reencoded.update(nalus)
		out, _ := s.reencoded.forRTP(nalus)
		if err := s.video.sendH264(uint32(media.Ticks(o.PTS, ticksPerSecond)), out); err != nil {
			return err
		}
	}
	return nil
}

// decoderInput is an access unit as the re-encoder's decoder takes it: Annex B with the SPS
// and PPS in-band (FLV has them apart), or the recoded source's form.
func (s *stream) decoderInput(au [][]byte) ([]byte, bool, error) {
	if s.recoded != nil {
		data, key, err := s.recoded.forDecoder(au)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", s.recoded.codec(), err)
		}
		return data, key, nil
	}
	in, idr := s.params.forRTP(au)
	data, err := h264.AnnexB(in).Marshal()
	if err != nil {
		return nil, false, fmt.Errorf("h264: %w", err)
	}
	return data, idr, nil
}

// onKeyframe is the SFU's keyframe request (any goroutine). Only a re-encoder can honour
// it: RTMP and SRT have no way to ask the encoder.
func (s *stream) onKeyframe() { s.keyframeWanted.Store(true) }

func (s *stream) noteKeyframeRequest() {
	if !s.keyframeNoted && s.keyframeWanted.Load() {
		s.keyframeNoted = true
		s.log.Info("viewers asked for a keyframe: RTMP/SRT encoders cannot be asked, the next one comes with the encoder's keyframe interval")
	}
}

// softError logs a per-frame failure that does not end the stream (first, then every 100th).
func (s *stream) softError(what string, err error) {
	s.softErrors++
	if s.softErrors == 1 || s.softErrors%100 == 0 {
		s.log.Warn(what+" failed", "err", err.Error(), "count", s.softErrors)
	}
}

// close releases the publisher and converters; the viewers stay in the room.
func (s *stream) close() {
	if s.stopWatch != nil {
		s.stopWatch()
	}
	if s.pub != nil {
		s.pub.Close()
	}
	for _, c := range []interface{ Close() error }{s.reenc, s.conv} {
		if c != nil {
			if err := c.Close(); err != nil {
				s.log.Warn("close converter", "err", err.Error())
			}
		}
	}
}

var errUnpublished = errors.New("publisher ended the stream")
