package transcoder

import (
	"bytes"
	"fmt"
	"runtime"
	"time"
)

// Parking: re-encoding costs most of a ladder's CPU, and a room nobody watches over HLS does
// not need it. A parked ladder keeps forwarding its passthrough rungs but neither decodes nor
// encodes: its encoders are closed (their memory freed) and its decoder starts over. What it
// receives meanwhile is kept in a bounded backlog: the frames since the start of the previous
// segment (a boundary keyframe; any keyframe when no passthrough rung sets the boundaries). On
// Resume the backlog is decoded and encoded at once, as fast as the CPU allows, so the
// re-encoded rungs come back with a complete segment and a partial one that line up with the
// passthrough rungs, instead of waiting for the next segment (or the next keyframe) to start.
//
// Park, Resume and Push must not be called concurrently (the pipeline's goroutine calls all).

// Backlog bounds: a source whose keyframes are further apart than this loses its backlog and
// resumes at its next keyframe.
const (
	backlogMaxBytes = 32 << 20
	backlogMaxSpan  = 10 * time.Second
)

type backlogFrame struct {
	in    Encoded
	meta  frameMeta
	start bool // a keyframe the backlog may start at (see backlog.add)
}

// backlog is what a parked ladder received, from a decodable start.
type backlog struct {
	frames []backlogFrame
	bytes  int
}

// add keeps f if the backlog can be decoded from its first frame, then trims: at a new start,
// everything before the previous start goes (one segment before the current one is kept);
// beyond the bounds, the oldest frames go up to the next start, or all of them.
func (b *backlog) add(in Encoded, m frameMeta, start bool) {
	if len(b.frames) == 0 && !start {
		return
	}
	in.Data = bytes.Clone(in.Data) // the caller reuses its buffers
	b.frames = append(b.frames, backlogFrame{in: in, meta: m, start: start})
	b.bytes += len(in.Data)
	if start {
		if prev := b.lastStartBefore(len(b.frames) - 1); prev > 0 {
			b.dropBefore(prev)
		}
	}
	for len(b.frames) > 0 && (b.bytes > backlogMaxBytes || b.frames[len(b.frames)-1].in.PTS-b.frames[0].in.PTS > backlogMaxSpan) {
		next := b.nextStartAfter(0)
		if next < 0 {
			b.reset()
			return
		}
		b.dropBefore(next)
	}
}

// lastStartBefore returns the index of the last start before index i, or -1.
func (b *backlog) lastStartBefore(i int) int {
	for j := i - 1; j >= 0; j-- {
		if b.frames[j].start {
			return j
		}
	}
	return -1
}

// nextStartAfter returns the index of the first start after index i, or -1.
func (b *backlog) nextStartAfter(i int) int {
	for j := i + 1; j < len(b.frames); j++ {
		if b.frames[j].start {
			return j
		}
	}
	return -1
}

func (b *backlog) dropBefore(i int) {
	for _, f := range b.frames[:i] {
		b.bytes -= len(f.in.Data)
	}
	clear(b.frames[:i])
	b.frames = append(b.frames[:0], b.frames[i:]...)
}

func (b *backlog) reset() {
	clear(b.frames)
	b.frames, b.bytes = b.frames[:0], 0
}

// Parked reports whether the re-encoded rungs are parked.
func (l *Ladder) Parked() bool {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return l.parked
}

// Park stops decoding and encoding: the pictures the decoder holds are encoded and output,
// then every encoder is closed. Passthrough rungs go on. A ladder without re-encoded rungs
// has nothing to park.
func (l *Ladder) Park() error {
	if err := l.guard.enter(); err != nil {
		return err
	}
	defer l.guard.leave()
	if l.dec == nil || l.Parked() {
		return nil
	}
	err := l.dec.drain(l.encodePicture)
	for _, r := range l.encs {
		if r != nil {
			r.release()
		}
	}
	l.stateMu.Lock()
	l.parked = true
	l.stateMu.Unlock()
	l.log.Info("transcoder: re-encoded rungs parked")
	if err != nil {
		return fmt.Errorf("transcoder: park: %w", err)
	}
	return nil
}

// Resume decodes and encodes the backlog (in parallel when there is more than one core) and
// goes back to encoding every frame. It reports how many backlog frames it caught up on: 0
// means the re-encoded rungs start at the source's next keyframe.
func (l *Ladder) Resume() (int, error) {
	if err := l.guard.enter(); err != nil {
		return 0, err
	}
	defer l.guard.leave()
	if !l.Parked() {
		return 0, nil
	}
	l.stateMu.Lock()
	l.parked = false
	l.stateMu.Unlock()
	frames := l.backlog.frames
	defer l.backlog.reset()
	if !l.anyEncoderActive() {
		return 0, nil
	}
	start := time.Now()
	parallel := l.parallel
	l.parallel = runtime.NumCPU() > 1
	defer func() { l.parallel = parallel }()
	for _, f := range frames {
		corrupt, err := l.dec.decode(f.in, f.meta, l.encodePicture)
		if corrupt != nil {
			l.bad.warn(l.log, "transcoder: corrupt source frame dropped", "err", corrupt, "pts", f.in.PTS)
		}
		if err != nil {
			return 0, fmt.Errorf("transcoder: resume: %w", err)
		}
	}
	l.log.Info("transcoder: re-encoded rungs resumed", "caught_up_frames", len(frames),
		"took", time.Since(start).Round(time.Millisecond))
	return len(frames), nil
}

// parkFrame keeps a frame a parked ladder receives. Segment boundaries are known here only
// when passthrough rungs set them; otherwise any keyframe is a start.
func (l *Ladder) parkFrame(in Encoded, m frameMeta, key bool) {
	start := key && (m.boundary || !l.clock.followSource)
	l.backlog.add(in, m, start)
}

// release frees the rung's encoder and scaler; the next picture opens them again.
func (r *rungEncoder) release() {
	if r.enc != nil {
		r.enc.close()
		r.enc = nil
	}
	freeAndClear(&r.sws)
	r.scaled.Unref()
	r.srcW, r.srcH = 0, 0
}
