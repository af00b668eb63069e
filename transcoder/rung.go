package transcoder

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/asticode/go-astiav"
)

// rungEncoder scales decoded pictures to one rung's size and encodes them. It re-creates its
// scaler when the source size changes and its encoder when the output size has to change.
type rungEncoder struct {
	rung   Rung
	params encoderParams // size fields are filled per source size
	log    *slog.Logger

	srcW, srcH int
	srcFmt     astiav.PixelFormat
	sws        *astiav.SoftwareScaleContext
	scaled     *astiav.Frame // scaler output, reused
	ref        *astiav.Frame // the decoded picture itself when no scaling is needed
	enc        *h264Encoder

	out  []Encoded     // outputs of the last process call
	err  error         // error of the last process call
	last time.Duration // CPU time of the last process call
	cost time.Duration // CPU time in the current load window
}

func newRungEncoder(r Rung, p encoderParams, log *slog.Logger) *rungEncoder {
	return &rungEncoder{rung: r, params: p, log: log.With("rung", r.Name),
		scaled: astiav.AllocFrame(), ref: astiav.AllocFrame()}
}

// outputSize is the rung's size for a source of srcW x srcH: the source size for a
// (re-encoded) passthrough or a SourceSize rung, else the configured size, keeping the source aspect ratio when
// Width is 0 or after the source size changed. Both are even.
func (r *rungEncoder) outputSize(srcW, srcH int, changed bool) (int, int) {
	if r.rung.Passthrough || r.rung.SourceSize || r.rung.Height <= 0 {
		return srcW &^ 1, srcH &^ 1
	}
	if r.rung.Width > 0 && !changed {
		return r.rung.Width &^ 1, r.rung.Height &^ 1
	}
	return scaledWidth(srcW, srcH, r.rung.Height&^1), r.rung.Height &^ 1
}

// reconfigure follows a new source size or pixel format.
func (r *rungEncoder) reconfigure(src *astiav.Frame) error {
	changed := r.srcW != 0
	r.srcW, r.srcH, r.srcFmt = src.Width(), src.Height(), src.PixelFormat()
	freeAndClear(&r.sws)
	w, h := r.outputSize(r.srcW, r.srcH, changed)
	if r.enc == nil || r.enc.p.width != w || r.enc.p.height != h {
		if r.enc != nil {
			r.log.Info("transcoder: rung re-initialised for new source size",
				"from", fmt.Sprintf("%dx%d", r.enc.p.width, r.enc.p.height), "to", fmt.Sprintf("%dx%d", w, h))
			r.enc.close()
			r.enc = nil
		}
		p := r.params
		p.width, p.height = w, h
		if p.kbps <= 0 { // a re-encoded passthrough rung of unknown size
			p.kbps = bitrateFor(h)
		}
		enc, err := openH264Encoder(p)
		if err != nil {
			return fmt.Errorf("rung %s: %w", r.rung.Name, err)
		}
		r.enc = enc
	}
	if w == r.srcW && h == r.srcH && r.srcFmt == r.enc.pixFmt {
		return nil
	}
	sws, err := astiav.CreateSoftwareScaleContext(r.srcW, r.srcH, r.srcFmt, w, h, r.enc.pixFmt,
		astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBicubic))
	if err != nil {
		return fmt.Errorf("transcoder: rung %s: scaler %dx%d→%dx%d: %w", r.rung.Name, r.srcW, r.srcH, w, h, err)
	}
	r.sws = sws
	r.scaled.Unref()
	r.scaled.SetWidth(w)
	r.scaled.SetHeight(h)
	r.scaled.SetPixelFormat(r.enc.pixFmt)
	if err := r.scaled.AllocBuffer(0); err != nil {
		return fmt.Errorf("transcoder: rung %s: frame buffer: %w", r.rung.Name, err)
	}
	return nil
}

// process scales and encodes one decoded picture; results land in r.out and r.err so that
// rungs can run in parallel goroutines. src is only read.
func (r *rungEncoder) process(src *astiav.Frame, m frameMeta, forceIDR bool) {
	runtime.LockOSThread() // so that the thread CPU time below is this call's
	start := threadCPU()
	r.out, r.err = r.encodeOne(src, m, forceIDR)
	r.last = threadCPU() - start
	runtime.UnlockOSThread()
	r.cost += r.last
}

func (r *rungEncoder) encodeOne(src *astiav.Frame, m frameMeta, forceIDR bool) ([]Encoded, error) {
	if r.enc == nil || src.Width() != r.srcW || src.Height() != r.srcH || src.PixelFormat() != r.srcFmt {
		if err := r.reconfigure(src); err != nil {
			return nil, err
		}
	}
	pic := r.ref
	if r.sws != nil {
		if err := makeWritable(r.scaled); err != nil {
			return nil, err
		}
		if err := r.sws.ScaleFrame(src, r.scaled); err != nil {
			return nil, fmt.Errorf("transcoder: rung %s: scale: %w", r.rung.Name, err)
		}
		pic = r.scaled
	} else if err := r.ref.Ref(src); err != nil {
		return nil, fmt.Errorf("transcoder: rung %s: frame ref: %w", r.rung.Name, err)
	}
	out, err := r.enc.encode(pic, m, forceIDR)
	if pic == r.ref {
		r.ref.Unref()
	}
	return out, err
}

// size is the current output size (the configured one before the first picture).
func (r *rungEncoder) size() (int, int) {
	if r.enc != nil {
		return r.enc.p.width, r.enc.p.height
	}
	return r.rung.Width, r.rung.Height
}

func (r *rungEncoder) close() {
	if r.enc != nil {
		r.enc.close()
		r.enc = nil
	}
	freeAndClear(&r.sws)
	freeAndClear(&r.scaled)
	freeAndClear(&r.ref)
}
