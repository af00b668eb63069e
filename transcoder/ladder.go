package transcoder

import (
	"cmp"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
)

// Ladder decodes a source once and produces every rung of an HLS ladder: passthrough rungs
// forward the H.264, H.265 or AV1 input as it is, the others are scaled and encoded, one after the other
// while one core keeps up comfortably (the least CPU), else in parallel (one goroutine per
// rung, joined before Push returns); when even that falls behind real time, the most
// expensive rung is dropped. IDRs are forced on the same source picture in every rung at
// segment boundaries; outputs are delivered through LadderConfig.Output.
// Push and Close must not be called concurrently; Rungs and Active may be called any time.
type Ladder struct {
	guard guard // Push, Flush, Close
	cfg   LadderConfig
	log   *slog.Logger
	dec   *videoDecoder  // nil when every rung is a passthrough
	encs  []*rungEncoder // by rung index; nil for passthrough rungs
	pass  []int          // passthrough rung indexes
	clock boundaryClock
	load  loadMeter
	// parallel: rungs encode in one goroutine each. Off while one core keeps up (lower
	// CPU, as the ffmpeg CLI), on when the CPU load passes parallelAbove or the ladder falls
	// behind real time.
	parallel bool
	offCPU   time.Duration // CPU time of rungs run on other threads in the current Push
	bad      rateLimitedLog

	backlog backlog // what a parked ladder received (park.go)
	// keyWanted: rungs whose next picture is forced to an IDR (RequestKeyframe), by index.
	keyWanted []atomic.Bool

	stateMu sync.Mutex // active, sizes, parked, the latest window in stats
	active  []bool
	sizes   [][2]int
	parked  bool
	stats   ladderCounters
}

// NewLadder validates cfg, fills defaults and opens the decoder; the encoders open on the
// first decoded picture, when the source size is known.
func NewLadder(cfg LadderConfig) (*Ladder, error) {
	if err := fillLadderDefaults(&cfg); err != nil {
		return nil, err
	}
	l := &Ladder{cfg: cfg, log: cfg.Log.With("component", "transcoder")}
	l.clock = boundaryClock{segment: cfg.SegmentDuration, slack: time.Second / time.Duration(2*cfg.FPS)}
	l.load = loadMeter{window: loadWindowSeconds * time.Second}
	passes := CanPassThrough(cfg.SourceCodec)
	encoded := 0
	for _, r := range cfg.Rungs {
		if !(r.Passthrough && passes) {
			encoded++
		}
	}
	threads := cfg.Threads
	if threads <= 0 {
		threads = max(1, runtime.NumCPU()/max(1, encoded))
	}
	l.encs = make([]*rungEncoder, len(cfg.Rungs))
	l.active = make([]bool, len(cfg.Rungs))
	l.sizes = make([][2]int, len(cfg.Rungs))
	l.stats.frames = make([]atomic.Uint64, len(cfg.Rungs))
	l.keyWanted = make([]atomic.Bool, len(cfg.Rungs))
	l.stats.rungCPU = make([]float64, len(cfg.Rungs))
	for i, r := range cfg.Rungs {
		l.active[i] = true
		l.sizes[i] = [2]int{r.Width, r.Height}
		if r.Passthrough && passes {
			l.pass = append(l.pass, i)
			continue
		}
		p := encoderParams{info: cfg.Encoder, kbps: r.BitrateKbps, fps: cfg.FPS,
			gop:    10 * cfg.FPS * int(max(1, cfg.SegmentDuration/time.Second)),
			preset: cfg.Preset, profile: rungProfile(r), threads: threads}
		l.encs[i] = newRungEncoder(r, p, l.log)
	}
	l.clock.followSource = len(l.pass) > 0
	if encoded > 0 {
		dec, err := newVideoDecoder(cfg.SourceCodec)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("transcoder: ladder: %w", err)
		}
		l.dec = dec
	}
	l.log.Info("transcoder: ladder ready", "source_codec", cfg.SourceCodec, "encoder", cfg.Encoder.Name,
		"rungs", len(cfg.Rungs), "reencoded", encoded, "threads_per_encoder", threads)
	return l, nil
}

func fillLadderDefaults(cfg *LadderConfig) error {
	id, err := codecID(cfg.SourceCodec)
	if err != nil {
		return fmt.Errorf("transcoder: ladder: %w", err)
	}
	cfg.SourceCodec = codecNames[id]
	if len(cfg.Rungs) == 0 {
		return fmt.Errorf("%w: ladder without rungs", ErrBadConfig)
	}
	for _, r := range cfg.Rungs {
		if !r.Passthrough && (r.Height <= 0 || r.BitrateKbps <= 0) {
			return fmt.Errorf("%w: rung %q needs a height and a bitrate", ErrBadConfig, r.Name)
		}
	}
	if cfg.Output == nil {
		return fmt.Errorf("%w: ladder without Output", ErrBadConfig)
	}
	cfg.FPS = positiveOr(cfg.FPS, defaultFPS)
	cfg.SegmentDuration = positiveOr(cfg.SegmentDuration, defaultSegment)
	cfg.Encoder = cfg.Encoder.orLibx264()
	cfg.Preset = cmp.Or(cfg.Preset, defaultPreset)
	if cfg.MaxLoad == 0 {
		cfg.MaxLoad = defaultMaxLoad
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	for i := range cfg.Rungs {
		if cfg.Rungs[i].Passthrough && cfg.Rungs[i].BitrateKbps <= 0 && cfg.Rungs[i].Height > 0 {
			cfg.Rungs[i].BitrateKbps = bitrateFor(cfg.Rungs[i].Height)
		}
	}
	return nil
}

// Push feeds one source frame in decode order: an H.264 or H.265 access unit in Annex-B
// (parameter sets in-band before IDRs/IRAPs), an AV1 temporal unit (low-overhead format, the
// sequence header in keyframes), or one VP8/VP9 frame (keyframes are recognised from the data too).
// Frames before the first keyframe are skipped; a corrupt frame is dropped and logged, and
// nil is returned. The returned error is for failures that end the ladder (ErrClosed, an
// encoder that cannot open).
func (l *Ladder) Push(in Encoded) error {
	if err := l.guard.enter(); err != nil {
		return err
	}
	defer l.guard.leave()
	key := isKeyframe(l.cfg.SourceCodec, in)
	m := frameMeta{pts: in.PTS, dur: in.Duration}
	if l.clock.followSource {
		m.boundary = l.clock.atSourceFrame(in.PTS, key)
	}
	if len(l.pass) > 0 && l.clock.started {
		out := in
		out.Keyframe, out.Boundary = key, m.boundary
		for _, i := range l.pass {
			if l.isActive(i) {
				l.output(i, out)
			}
		}
	}
	if l.dec == nil {
		return nil
	}
	if l.Parked() {
		l.parkFrame(in, m, key)
		return nil
	}
	if !l.anyEncoderActive() {
		return nil
	}
	l.offCPU = 0
	runtime.LockOSThread() // so that the thread CPU time below is this Push's
	start, startCPU := time.Now(), threadCPU()
	corrupt, err := l.dec.decode(in, m, l.encodePicture)
	cpu := threadCPU() - startCPU + l.offCPU
	runtime.UnlockOSThread()
	if corrupt != nil {
		l.stats.corrupt.Add(1)
		l.bad.warn(l.log, "transcoder: corrupt source frame dropped", "err", corrupt, "pts", in.PTS)
	}
	if err != nil {
		return fmt.Errorf("transcoder: ladder: %w", err)
	}
	if l.load.add(time.Since(start), cpu, in.PTS) {
		l.checkLoad()
	}
	return nil
}

// encodePicture runs every active re-encoded rung on one decoded picture (serially or in
// parallel) and then hands their outputs to Output in rung order.
func (l *Ladder) encodePicture(src *astiav.Frame, m frameMeta) error {
	if !l.clock.followSource {
		m.boundary = l.clock.atPicture(m.pts)
	}
	for _, i := range l.pass {
		l.setSize(i, src.Width(), src.Height())
	}
	var run []*rungEncoder
	var idr []bool
	for i, r := range l.encs {
		if r != nil && l.isActive(i) {
			run = append(run, r)
			idr = append(idr, l.keyWanted[i].Swap(false) || m.boundary)
		}
	}
	if !l.parallel || len(run) == 1 {
		for k, r := range run {
			r.process(src, m, idr[k])
		}
	} else {
		var wg sync.WaitGroup
		for k, r := range run {
			wg.Go(func() { r.process(src, m, idr[k]) })
		}
		wg.Wait()
		for _, r := range run {
			l.offCPU += r.last
		}
	}
	for i, r := range l.encs {
		if r == nil || !l.isActive(i) {
			continue
		}
		if r.err != nil {
			return r.err
		}
		w, h := r.size()
		l.setSize(i, w, h)
		for _, e := range r.out {
			l.output(i, e)
		}
		r.out = nil
	}
	return nil
}

// Flush outputs the pictures the decoder still holds back for reordering (B-frame sources);
// call it at the end of a stream. The ladder then waits for a keyframe to start again.
func (l *Ladder) Flush() error {
	if err := l.guard.enter(); err != nil {
		return err
	}
	defer l.guard.leave()
	if l.dec == nil {
		return nil
	}
	if err := l.dec.drain(l.encodePicture); err != nil {
		return fmt.Errorf("transcoder: ladder flush: %w", err)
	}
	return nil
}

// Serial/parallel switching thresholds: the ladder's CPU time over media time.
const (
	parallelAbove = 0.6
	serialBelow   = 0.4
)

// checkLoad adapts to the last window's load: rungs encode in parallel when one core would
// not comfortably keep up, and the most expensive re-encoded rung is dropped when even that
// runs behind real time.
func (l *Ladder) checkLoad() {
	span := l.load.span()
	load, cpuLoad := l.load.take()
	l.noteWindow(load, cpuLoad, span)
	worst := -1
	for i, r := range l.encs {
		if r != nil && l.isActive(i) && (worst < 0 || r.cost > l.encs[worst].cost) {
			worst = i
		}
	}
	for _, r := range l.encs {
		if r != nil {
			r.cost = 0
		}
	}
	canParallel := runtime.NumCPU() > 1
	above := parallelAbove
	if l.cfg.MaxLoad > 0 {
		above = min(above, l.cfg.MaxLoad*2/3)
	}
	switch {
	case !l.parallel && canParallel && (cpuLoad > above || (l.cfg.MaxLoad >= 0 && load > l.cfg.MaxLoad)):
		l.parallel = true
		l.log.Info("transcoder: rungs now encode in parallel", "cpu_load", fmt.Sprintf("%.2f", cpuLoad),
			"load", fmt.Sprintf("%.2f", load))
		return
	case l.parallel && cpuLoad < min(serialBelow, above/2) && (l.cfg.MaxLoad < 0 || load < l.cfg.MaxLoad/2):
		l.parallel = false
		l.log.Info("transcoder: rungs now encode one after the other", "cpu_load", fmt.Sprintf("%.2f", cpuLoad))
		return
	}
	if load <= l.cfg.MaxLoad || l.cfg.MaxLoad < 0 || worst < 0 || l.activeCount() <= 1 {
		return
	}
	l.stateMu.Lock()
	l.active[worst] = false
	l.stateMu.Unlock()
	l.encs[worst].close()
	l.log.Warn("transcoder: encoding behind real time, rung dropped", "rung", l.cfg.Rungs[worst].Name,
		"load", fmt.Sprintf("%.2f", load), "max_load", l.cfg.MaxLoad)
}

// RequestKeyframe makes re-encoded rung's next picture an IDR (a WebRTC viewer of the
// rung asked for one); it does not start a segment. Safe to call from any goroutine; a
// passthrough rung or an unknown index is ignored.
func (l *Ladder) RequestKeyframe(rung int) {
	if rung >= 0 && rung < len(l.keyWanted) && l.encs[rung] != nil {
		l.keyWanted[rung].Store(true)
	}
}

// rungProfile is the H.264 profile of a re-encoded rung: constrained baseline for a
// SourceSize rung, which WebRTC viewers also receive (every browser decodes it), main for
// the others.
func rungProfile(r Rung) string {
	if r.SourceSize {
		return "baseline"
	}
	return "main"
}

// Rungs reports the rungs with their current output sizes (they follow source size changes).
func (l *Ladder) Rungs() []Rung {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	out := append([]Rung(nil), l.cfg.Rungs...)
	for i := range out {
		out[i].Width, out[i].Height = l.sizes[i][0], l.sizes[i][1]
	}
	return out
}

// Active reports whether rung still produces output (false once dropped for load).
func (l *Ladder) Active(rung int) bool { return l.isActive(rung) }

func (l *Ladder) isActive(i int) bool {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return i >= 0 && i < len(l.active) && l.active[i]
}

func (l *Ladder) activeCount() int {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	n := 0
	for _, a := range l.active {
		if a {
			n++
		}
	}
	return n
}

func (l *Ladder) anyEncoderActive() bool {
	for i, r := range l.encs {
		if r != nil && l.isActive(i) {
			return true
		}
	}
	return false
}

func (l *Ladder) setSize(i, w, h int) {
	l.stateMu.Lock()
	l.sizes[i] = [2]int{w, h}
	l.stateMu.Unlock()
}

// Close frees every libav object; pictures still inside the decoder are discarded. Safe to
// call more than once.
func (l *Ladder) Close() error {
	l.guard.close(func() {
		if l.dec != nil {
			l.dec.close()
		}
		for _, r := range l.encs {
			if r != nil {
				r.close()
			}
		}
	})
	return nil
}
