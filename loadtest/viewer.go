package loadtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/loadtest/bare"
)

// Viewer modes of the WebRTC viewers.
const (
	ViewerLight = "light" // frames from the RTP headers and the first bytes of each payload
	ViewerFull  = "full"  // every access unit reassembled and checked
	ViewerBare  = "bare"  // like light, without pion: package bare (recvmmsg, only frame starts decrypted)
)

// rxCounters are a WebRTC viewer's packet counters over all its tracks.
type rxCounters struct {
	packets    atomic.Uint64 // new packets (not duplicates)
	gaps       atomic.Uint64 // sequence numbers skipped by a forward jump
	late       atomic.Uint64 // new packets behind the newest (reordered or retransmitted)
	duplicates atomic.Uint64 // packets received twice, not counted
	bytes      atomic.Uint64
	incomplete atomic.Uint64 // video frames given up with packets missing
	corrupt    atomic.Uint64 // full mode: complete frames that failed the checks
}

// webrtcViewer is one WHEP session that reads its tracks as cheaply as it can: raw packets
// into a reused buffer, the header parsed by hand, no allocation per packet (light mode).
type webrtcViewer struct {
	sess    *client.Session // light and full modes
	bare    *bare.Viewer    // bare mode
	roomIdx int
	full    bool
	start   time.Time // the WHEP request
	fs      *frameStats
	rx      rxCounters
}

// joinWebRTC plays whepURL and waits until the viewer is connected; a layer cap is asked
// for through the WHEP layer extension once connected.
func joinWebRTC(ctx context.Context, whepURL string, roomIdx int, cfg Config, httpClient *http.Client, clock *markClock) (*webrtcViewer, error) {
	v := &webrtcViewer{roomIdx: roomIdx, full: cfg.ViewerMode == ViewerFull, fs: newFrameStats(clock, webrtcPlayoutBuffer)}
	if cfg.ViewerMode == ViewerBare {
		if err := v.joinBare(ctx, whepURL, cfg, httpClient); err != nil {
			return nil, err
		}
		return v, nil
	}
	opts := client.Options{
		Token: cfg.Token, HTTPClient: httpClient, LoopbackOnly: cfg.LoopbackOnly,
		OnTrack: func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { v.readTrack(track) },
	}
	v.start = time.Now()
	sess, err := client.Play(ctx, whepURL, opts)
	if err != nil {
		return nil, err
	}
	v.sess = sess
	if err := sess.Connected(ctx); err != nil {
		v.close(context.WithoutCancel(ctx))
		return nil, err
	}
	if cfg.MaxLayer != "" {
		if err := requestLayer(ctx, httpClient, sess.Location()+"/layer", cfg.Token, cfg.MaxLayer); err != nil {
			v.close(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	return v, nil
}

// requestLayer POSTs {"maxLayer": layer} to a WHEP session's layer endpoint.
func requestLayer(ctx context.Context, httpClient *http.Client, layerURL, token, layer string) error {
	body := fmt.Sprintf(`{"maxLayer":%q}`, layer)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, layerURL, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("layer: POST %s: server answered %d: %s", layerURL, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// readTrack counts the track's packets, and assembles video frames, until the session closes.
func (v *webrtcViewer) readTrack(track *webrtc.TrackRemote) {
	t := &trackReader{video: track.Kind() == webrtc.RTPCodecTypeVideo &&
		strings.EqualFold(track.Codec().MimeType, webrtc.MimeTypeH264)}
	t.asm.full = v.full
	buf := make([]byte, 1500)
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		seq, ts, marker, payload, ok := parseRTP(buf[:n])
		if !ok {
			continue
		}
		v.take(t, seq, ts, marker, payload, n, time.Time{})
	}
}

// trackReader is the state of one track's packets: sequence numbers and, for video,
// the frames being assembled.
type trackReader struct {
	video bool
	asm   frameAssembler
	seqs  seqTracker
}

// take counts one packet of size n (the RTP packet as decrypted) and feeds video to the
// frame assembler; payload may be nil (a packet the bare viewer did not decrypt), its
// first bytes only matter. arrived zero means now.
func (v *webrtcViewer) take(t *trackReader, seq uint16, ts uint32, marker bool, payload []byte, n int, arrived time.Time) {
	isNew, gap := t.seqs.add(seq)
	switch {
	case !isNew:
		v.rx.duplicates.Add(1)
		return
	case gap > 0:
		v.rx.gaps.Add(uint64(gap))
	case gap < 0:
		v.rx.late.Add(1)
	}
	v.rx.packets.Add(1)
	v.rx.bytes.Add(uint64(n))
	if !t.video {
		return
	}
	asm := &t.asm
	incomplete, corrupt := asm.incomplete, asm.corrupt
	f, done := asm.add(seq, ts, marker, payload, n)
	if asm.incomplete != incomplete {
		v.rx.incomplete.Add(asm.incomplete - incomplete)
	}
	if asm.corrupt != corrupt {
		v.rx.corrupt.Add(asm.corrupt - corrupt)
	}
	if !done {
		return
	}
	if arrived.IsZero() {
		arrived = time.Now()
	}
	if f.keyframe {
		v.fs.join(arrived.Sub(v.start))
	}
	v.fs.frame(arrived.UnixNano(), f.captured, f.pts, f.bytes)
}

// parseRTP returns an RTP packet's sequence number, timestamp, marker bit and payload
// (without padding).
func parseRTP(b []byte) (seq uint16, ts uint32, marker bool, payload []byte, ok bool) {
	const fixedHeader = 12
	if len(b) < fixedHeader || b[0]>>6 != 2 {
		return 0, 0, false, nil, false
	}
	off := fixedHeader + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // header extension
		if off+4 > len(b) {
			return 0, 0, false, nil, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 { // padding
		end -= int(b[end-1])
	}
	if off > end {
		return 0, 0, false, nil, false
	}
	return binary.BigEndian.Uint16(b[2:]), binary.BigEndian.Uint32(b[4:]), b[1]&0x80 != 0, b[off:end], true
}

func (v *webrtcViewer) stats() *frameStats { return v.fs }
func (v *webrtcViewer) room() int          { return v.roomIdx }
func (v *webrtcViewer) counters() *rxCounters {
	return &v.rx
}

// joinBare plays whepURL with a bare viewer (connected when it returns) feeding the same
// counters and frame statistics as the light mode.
func (v *webrtcViewer) joinBare(ctx context.Context, whepURL string, cfg Config, httpClient *http.Client) error {
	video, audio := &trackReader{video: true}, &trackReader{}
	opts := bare.Options{
		Token: cfg.Token, HTTPClient: httpClient, Identity: cfg.identity, LoopbackOnly: cfg.LoopbackOnly, Group: cfg.bareGroup,
		ReceiverReports: cfg.ViewerReports,
		OnPacket: func(p *bare.Packet) {
			t := audio
			if p.Kind == bare.Video {
				t = video
			}
			v.take(t, p.Seq, p.TS, p.Marker, p.Payload, p.Size, time.Unix(0, p.Arrived))
		},
	}
	v.start = time.Now()
	b, err := bare.Play(ctx, whepURL, opts)
	if err != nil {
		return err
	}
	v.bare = b
	if cfg.MaxLayer != "" {
		if err := requestLayer(ctx, httpClient, b.Location()+"/layer", cfg.Token, cfg.MaxLayer); err != nil {
			v.close(context.WithoutCancel(ctx))
			return err
		}
	}
	return nil
}

// alive reports whether the viewer's connection is still up.
func (v *webrtcViewer) alive() bool {
	var done <-chan struct{}
	if v.bare != nil {
		done = v.bare.Done()
	} else {
		done = v.sess.Done()
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

func (v *webrtcViewer) close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, closeTimeout)
	defer cancel()
	if v.bare != nil {
		_ = v.bare.Close(ctx)
		return
	}
	_ = v.sess.Close(ctx) // best effort: the server also drops it on ICE timeout
}
