package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/gortmplib/pkg/rawmessage"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/transcoder"
)

// fakeRoom stands in for the SFU: it checks and keeps what a stream sends.
type fakeRoom struct {
	mu           sync.Mutex
	video, audio *webrtc.RTPCodecParameters
	pkts         map[string][]*rtp.Packet
	keep         bool
	bad          error // the first packet that broke a rule
	ctx          context.Context
	cancel       context.CancelFunc
	onKeyframe   func()
}

func (f *fakeRoom) publish(_ string, video, audio *webrtc.RTPCodecParameters, onKeyframe func()) (roomPublisher, error) {
	f.video, f.audio, f.onKeyframe = video, audio, onKeyframe
	f.ctx, f.cancel = context.WithCancel(context.Background())
	return f, nil
}

func (f *fakeRoom) WriteRTP(kind string, b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var p rtp.Packet
	err := p.Unmarshal(b)
	switch {
	case err != nil:
		err = fmt.Errorf("unmarshal: %w", err)
	case len(b) > rtpMTU:
		err = fmt.Errorf("%s packet of %d bytes", kind, len(b))
	case len(p.Payload) == 0:
		err = fmt.Errorf("empty %s payload", kind)
	case kind == "video" && f.video == nil, kind == "audio" && f.audio == nil:
		err = fmt.Errorf("%s packet without a %s track", kind, kind)
	}
	if err != nil {
		if f.bad == nil {
			f.bad = err
		}
		return err
	}
	if f.keep {
		if f.pkts == nil {
			f.pkts = map[string][]*rtp.Packet{}
		}
		f.pkts[kind] = append(f.pkts[kind], &p)
	}
	return nil
}

func (f *fakeRoom) Context() context.Context { return f.ctx }
func (f *fakeRoom) Close() {
	if f.cancel != nil {
		f.cancel()
	}
}

func (f *fakeRoom) packets(kind string) []*rtp.Packet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pkts[kind]
}

// fakeOpus is an AAC → Opus converter that emits one 20 ms "Opus" packet per input frame.
type fakeOpus struct{ closed bool }

func (c *fakeOpus) Convert(in transcoder.Encoded) ([]transcoder.Encoded, error) {
	if len(in.Data) == 0 {
		return nil, errors.New("empty frame")
	}
	return []transcoder.Encoded{{Data: []byte{0xfc, 0xff, 0xfe}, PTS: in.PTS}}, nil
}
func (c *fakeOpus) Close() error { c.closed = true; return nil }

// fakeReencoder passes access units through and counts keyframe requests.
type fakeReencoder struct {
	keyframes int
	closed    bool
}

func (r *fakeReencoder) Push(in transcoder.Encoded) ([]transcoder.Encoded, error) {
	return []transcoder.Encoded{{Data: in.Data, PTS: in.PTS, DTS: in.PTS, Keyframe: in.Keyframe}}, nil
}
func (r *fakeReencoder) RequestKeyframe() { r.keyframes++ }
func (r *fakeReencoder) Close() error     { r.closed = true; return nil }

func fakeTranscode() Transcode {
	return Transcode{
		AACToOpus: func(int, int, []byte, *slog.Logger) (AudioConverter, error) { return &fakeOpus{}, nil },
		Reencoder: func(string, int, *slog.Logger) (VideoReencoder, error) { return &fakeReencoder{}, nil },
	}
}

// newTestStream is a stream outside any server connection, publishing into a fakeRoom.
func newTestStream(tb testing.TB, tc Transcode) (*stream, *fakeRoom) {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("GLINT_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv := &Server{cfg: Config{KeyframeTimeout: time.Hour, IdleTimeout: time.Hour, Transcode: tc}, log: log,
		streams: map[string]*stream{}, conns: map[string]io.Closer{}}
	st := newStream(srv, log)
	st.room = "test"
	room := &fakeRoom{}
	st.publish = room.publish
	return st, room
}

func readSeed(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/fuzz/seeds/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// flvTags parses an FLV file into RTMP messages (an FLV tag body is an RTMP message body).
func flvTags(b []byte) ([]*rawmessage.Message, error) {
	if len(b) < 13 || string(b[:3]) != "FLV" {
		return nil, errors.New("not FLV")
	}
	off := int(binary.BigEndian.Uint32(b[5:9])) + 4
	var out []*rawmessage.Message
	for off+11 <= len(b) {
		typ := b[off]
		size := int(b[off+1])<<16 | int(b[off+2])<<8 | int(b[off+3])
		ts := uint32(b[off+4])<<16 | uint32(b[off+5])<<8 | uint32(b[off+6]) | uint32(b[off+7])<<24
		body := off + 11
		if body+size > len(b) {
			return out, errors.New("truncated tag")
		}
		csid := byte(5)
		switch typ {
		case 8:
			csid = message.AudioChunkStreamID
		case 9:
			csid = message.VideoChunkStreamID
		}
		out = append(out, &rawmessage.Message{ChunkStreamID: csid, Timestamp: time.Duration(ts) * time.Millisecond,
			Type: typ, MessageStreamID: 1, Body: b[body : body+size]})
		off = body + size + 4
	}
	return out, nil
}

// rtmpChunks encodes messages as an RTMP chunk stream (what a publisher sends after the
// handshake), with the given chunk size announced first.
func rtmpChunks(msgs []*rawmessage.Message, chunkSize uint32) []byte {
	var buf bytes.Buffer
	w := rawmessage.NewWriter(&buf, bytecounter.NewWriter(io.Discard), false)
	body := binary.BigEndian.AppendUint32(nil, chunkSize)
	_ = w.Write(&rawmessage.Message{ChunkStreamID: 2, Type: uint8(message.TypeSetChunkSize), Body: body})
	w.SetChunkSize(chunkSize)
	for _, m := range msgs {
		if err := w.Write(m); err != nil {
			break
		}
	}
	return buf.Bytes()
}

// demuxRTMP reads an RTMP chunk stream into st through the same path as a connection.
func demuxRTMP(st *stream, chunks []byte) error {
	r := bytes.NewReader(chunks)
	mr := message.NewReader(r, bytecounter.NewReader(r), func(uint32) error { return nil })
	d := &flvDemuxer{st: st}
	for {
		msg, err := mr.Read()
		if err != nil {
			return err
		}
		if err := d.handle(msg); err != nil {
			return err
		}
	}
}
