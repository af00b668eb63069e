package ingest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astits"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	srt "github.com/datarhei/gosrt"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/transcoder"
)

// The AV1-over-SRT test publisher. FFmpeg 5.1 encodes AV1 (libaom) but writes it into
// MPEG-TS as bare private data: stream type 0x06 without a registration descriptor, each
// PES a temporal unit in AV1's low-overhead format, which no demuxer reads back as AV1. The
// publisher reads ffmpeg's MPEG-TS (AV1 + AAC) with go-astits and muxes it again the way
// AOM's "Carriage of AV1 in MPEG-2 TS" says (registration descriptor 'AV01', AV1 video
// descriptor, OBUs in start-code format, stream_id 0xBD, random_access_indicator on
// keyframes), sent over SRT by a gosrt caller, 7 TS packets per SRT packet.

// av1SRTPublisher publishes the AV1 + AAC test source to room over SRT until the test's end.
func av1SRTPublisher(t *testing.T, ctx context.Context, e *env, room string) func() {
	addr := fmt.Sprintf("127.0.0.1:%d", e.srtPort)
	return goPublisher(func(ctx context.Context, _ string) error { return publishSRTAV1(ctx, addr, room) })(t, ctx, e, room)
}

// av1Source is the ffmpeg command line of the AV1 publisher: 320x240 testsrc2 with libaom-av1
// in real-time mode (a keyframe with its sequence header every second) + a 440 Hz sine in
// AAC, as MPEG-TS on stdout, in real time, or (seconds > 0) that many seconds at full speed.
func av1Source(seconds int) []string {
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error"}
	if seconds == 0 {
		args = append(args, "-re")
	}
	args = append(args, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-g", "30", "-b:v", "300k", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-flush_packets", "1")
	if seconds > 0 {
		args = append(args, "-t", strconv.Itoa(seconds))
	}
	return append(args, "-f", "mpegts", "-")
}

// publishSRTAV1 runs ffmpeg (av1Source) and sends its stream, remuxed (av1Remuxer), to the
// SRT listener at addr with streamid publish:room, until ctx ends.
func publishSRTAV1(ctx context.Context, addr, room string) error {
	out, wait, err := ffmpegStdout(ctx, av1Source(0)...)
	if err != nil {
		return err
	}
	defer wait()
	cfg := srt.DefaultConfig()
	cfg.StreamId = "publish:" + room
	conn, err := srt.Dial("srt", addr, cfg)
	if err != nil {
		return fmt.Errorf("srt connect: %w", err)
	}
	defer func() { _ = conn.Close() }()
	buf := bufio.NewWriterSize(conn, 1316)
	rm := &av1Remuxer{mux: astits.NewMuxer(ctx, buf), flush: buf.Flush}
	if err := rm.run(ctx, out); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// av1Remuxer muxes the AV1 and AAC of an MPEG-TS stream from ffmpeg again with AV1 per AOM.
type av1Remuxer struct {
	mux      *astits.Muxer
	flush    func() error
	videoPID uint16
	pids     map[uint16]bool   // the elementary streams taken
	onTU     func(tu [][]byte) // when set, gets each of ffmpeg's temporal units (OBUs with obu_size)
}

// run remuxes everything from r until it ends.
func (m *av1Remuxer) run(ctx context.Context, r io.Reader) error {
	dmx := astits.NewDemuxer(ctx, bufio.NewReader(r))
	for {
		d, err := dmx.NextData()
		if err != nil {
			return fmt.Errorf("ffmpeg's mpeg-ts: %w", err)
		}
		switch {
		case d.PMT != nil && m.pids == nil:
			if err := m.program(d.PMT); err != nil {
				return err
			}
		case d.PES != nil && m.pids[d.PID]:
			if err := m.pes(d.PID, d.PES); err != nil {
				return err
			}
		}
	}
}

// program declares ffmpeg's private-data stream as AV1 (with the descriptors a
// 320x240 8-bit 4:2:0 Main profile stream has) and its AAC stream as it is.
func (m *av1Remuxer) program(pmt *astits.PMTData) error {
	m.pids = map[uint16]bool{}
	for _, es := range pmt.ElementaryStreams {
		switch es.StreamType {
		case astits.StreamTypePrivateData:
			m.videoPID = es.ElementaryPID
			if err := m.mux.AddElementaryStream(astits.PMTElementaryStream{ElementaryPID: es.ElementaryPID,
				StreamType: astits.StreamTypePrivateData, ElementaryStreamDescriptors: []*astits.Descriptor{
					{Tag: astits.DescriptorTagRegistration, Length: 4, Registration: &astits.DescriptorRegistration{FormatIdentifier: av1FormatIdentifier}},
					{Tag: av1VideoDescriptorTag, Length: 4, UserDefined: []byte{0x81, 0x00, 0x0c, 0x00}}, // Main, level 2.0, 8-bit 4:2:0
				}}); err != nil {
				return err
			}
		case astits.StreamTypeAACAudio:
			if err := m.mux.AddElementaryStream(astits.PMTElementaryStream{ElementaryPID: es.ElementaryPID, StreamType: es.StreamType}); err != nil {
				return err
			}
		default:
			continue
		}
		m.pids[es.ElementaryPID] = true
	}
	if m.videoPID == 0 {
		return fmt.Errorf("ffmpeg's mpeg-ts has no private-data (AV1) stream")
	}
	m.mux.SetPCRPID(m.videoPID)
	return nil
}

// pes writes one PES again: a temporal unit in start-code format (a keyframe with the
// random access indicator and a PCR), or an AAC frame as it is.
func (m *av1Remuxer) pes(pid uint16, p *astits.PESData) error {
	src := p.Header.OptionalHeader
	if src == nil || src.PTS == nil {
		return fmt.Errorf("PES of PID %d without a PTS", pid)
	}
	oh := &astits.PESOptionalHeader{MarkerBits: 2, PTSDTSIndicator: src.PTSDTSIndicator, PTS: src.PTS, DTS: src.DTS}
	data := p.Data
	var af *astits.PacketAdaptationField
	streamID := p.Header.StreamID
	if pid == m.videoPID {
		obus, err := splitOBUs(p.Data)
		if err != nil {
			return fmt.Errorf("ffmpeg's av1 temporal unit: %w", err)
		}
		if m.onTU != nil {
			m.onTU(obus)
		}
		data, streamID, oh.DataAlignmentIndicator = packAV1PES(obus), 0xbd, true
		if av1.IsRandomAccess2(obus) {
			dts := src.PTS.Base
			if src.DTS != nil {
				dts = src.DTS.Base
			}
			af = &astits.PacketAdaptationField{RandomAccessIndicator: true, HasPCR: true, PCR: &astits.ClockReference{Base: dts - 9000}}
		}
	}
	if _, err := m.mux.WriteData(&astits.MuxerData{PID: pid, AdaptationField: af,
		PES: &astits.PESData{Header: &astits.PESHeader{StreamID: streamID, OptionalHeader: oh}, Data: data}}); err != nil {
		return err
	}
	return m.flush()
}

var updateAV1Seed = flag.Bool("update-av1-seed", false, "write FuzzTS's AV1 seed (testdata/fuzz/seeds/av1_aac.ts) from ffmpeg")

// recordingReencoder is a re-encoder that keeps what it is given.
type recordingReencoder struct {
	fakeReencoder
	codec string
	in    []transcoder.Encoded
}

func (r *recordingReencoder) Push(in transcoder.Encoded) ([]transcoder.Encoded, error) {
	r.in = append(r.in, in)
	return r.fakeReencoder.Push(in)
}

// TestFFmpegAV1TSRefused: ffmpeg 5.1's own MPEG-TS of AV1 (bare private data, see above) with
// AAC ends with an unsupported-codec error that says why, instead of an audio-only room.
func TestFFmpegAV1TSRefused(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	ctx := testkit.Context(t, time.Minute)
	out, err := exec.CommandContext(ctx, "ffmpeg", av1Source(1)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	st, _ := newTestStream(t, fakeTranscode())
	defer st.close()
	err = runTS(bytes.NewReader(out), st)
	if !errors.Is(err, ErrUnsupportedCodec) || !strings.Contains(err.Error(), "private data without a registration descriptor") {
		t.Fatalf("runTS: %v, want an unsupported codec error about private data", err)
	}
}

// TestAV1TSToReencoder: one second of libaom AV1 + AAC from ffmpeg, muxed per AOM's mapping,
// through runTS: the stream is re-encoded as AV1, and every temporal unit reaches the
// re-encoder OBU for OBU as libaom wrote it, the first a keyframe. With -update-av1-seed the
// stream becomes FuzzTS's AV1 seed.
func TestAV1TSToReencoder(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	ctx := testkit.Context(t, time.Minute)
	out, wait, err := ffmpegStdout(ctx, av1Source(1)...)
	if err != nil {
		t.Fatal(err)
	}
	var ts bytes.Buffer
	var sent []av1.Bitstream
	rm := &av1Remuxer{mux: astits.NewMuxer(ctx, &ts), flush: func() error { return nil }, onTU: func(tu [][]byte) {
		var bs av1.Bitstream
		if err := bs.Unmarshal(slices.Concat(tu...)); err != nil {
			t.Errorf("ffmpeg's temporal unit: %v", err)
		}
		sent = append(sent, bs)
	}}
	if err := rm.run(ctx, out); !errors.Is(err, io.EOF) && !errors.Is(err, astits.ErrNoMorePackets) {
		t.Fatalf("remux: %v", err)
	}
	wait()
	if *updateAV1Seed {
		if err := os.WriteFile("testdata/fuzz/seeds/av1_aac.ts", ts.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recordingReencoder{}
	tc := fakeTranscode()
	tc.Reencoder = func(codec string, _ int, _ *slog.Logger) (VideoReencoder, error) { rec.codec = codec; return rec, nil }
	st, _ := newTestStream(t, tc)
	if err := runTS(bytes.NewReader(ts.Bytes()), st); !errors.Is(err, io.EOF) {
		t.Fatalf("demux: %v", err)
	}
	st.close()
	if rec.codec != "AV1" || len(sent) < 25 || len(rec.in) < len(sent)-1 || !rec.in[0].Keyframe {
		t.Fatalf("re-encoder for %q got %d temporal units (first a keyframe: %v); ffmpeg sent %d", rec.codec, len(rec.in),
			len(rec.in) > 0 && rec.in[0].Keyframe, len(sent))
	}
	for i, in := range rec.in {
		var got av1.Bitstream
		if err := got.Unmarshal(in.Data); err != nil || !slices.EqualFunc(got, sent[i], bytes.Equal) {
			t.Fatalf("temporal unit %d: % x (%v), want % x", i, got, err, sent[i])
		}
	}
	t.Logf("%d temporal units of %d, %d bytes of MPEG-TS", len(rec.in), len(sent), ts.Len())
}
