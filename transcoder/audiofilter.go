package transcoder

import (
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"
)

// audioFilter is abuffer → aresample (rate, gap filling) → aformat → asetnsamples → abuffersink.
type audioFilter struct {
	graph     *astiav.FilterGraph
	src, sink *astiav.FilterContext
	rate      int
	format    astiav.SampleFormat
	layout    astiav.ChannelLayout
}

func newAudioFilter(in *astiav.Frame, outRate int, outFmt astiav.SampleFormat, outLayout astiav.ChannelLayout, frameSize int) (*audioFilter, error) {
	f := &audioFilter{graph: astiav.AllocFilterGraph(), rate: in.SampleRate(), format: in.SampleFormat(), layout: in.ChannelLayout()}
	fail := func(what string, err error) (*audioFilter, error) {
		f.close()
		return nil, fmt.Errorf("transcoder: audio filter %s: %w", what, err)
	}
	var err error
	f.src, err = f.graph.NewFilterContext(astiav.FindFilterByName("abuffer"), "in", astiav.FilterArgs{
		"time_base":      "1/" + strconv.Itoa(f.rate),
		"sample_rate":    strconv.Itoa(f.rate),
		"sample_fmt":     f.format.Name(),
		"channel_layout": f.layout.String(),
	})
	if err != nil {
		return fail("abuffer", err)
	}
	if f.sink, err = f.graph.NewFilterContext(astiav.FindFilterByName("abuffersink"), "out", nil); err != nil {
		return fail("abuffersink", err)
	}
	outputs, inputs := astiav.AllocFilterInOut(), astiav.AllocFilterInOut()
	defer outputs.Free()
	defer inputs.Free()
	outputs.SetName("in")
	outputs.SetFilterContext(f.src)
	outputs.SetPadIdx(0)
	outputs.SetNext(nil)
	inputs.SetName("out")
	inputs.SetFilterContext(f.sink)
	inputs.SetPadIdx(0)
	inputs.SetNext(nil)
	if frameSize <= 0 {
		frameSize = 1024
	}
	desc := fmt.Sprintf("aresample=%d:async=1:min_hard_comp=0.05:first_pts=0,"+
		"aformat=sample_fmts=%s:channel_layouts=%s,asetnsamples=n=%d:p=0",
		outRate, outFmt.Name(), outLayout.String(), frameSize)
	if err := f.graph.Parse(desc, inputs, outputs); err != nil {
		return fail("parse", err)
	}
	if err := f.graph.Configure(); err != nil {
		return fail("configure", err)
	}
	return f, nil
}

// accepts reports whether in has the format the graph was built for.
func (f *audioFilter) accepts(in *astiav.Frame) bool {
	return in.SampleRate() == f.rate && in.SampleFormat() == f.format && in.ChannelLayout().Equal(f.layout)
}

// push adds in and calls emit with every complete output frame (out is reused).
func (f *audioFilter) push(in, out *astiav.Frame, emit func(*astiav.Frame) error) error {
	if err := f.src.BuffersrcAddFrame(in, astiav.NewBuffersrcFlags(astiav.BuffersrcFlagKeepRef)); err != nil {
		return fmt.Errorf("transcoder: audio filter: %w", err)
	}
	for {
		if err := f.sink.BuffersinkGetFrame(out, astiav.NewBuffersinkFlags()); err != nil {
			if isAgain(err) {
				return nil
			}
			return fmt.Errorf("transcoder: audio filter: %w", err)
		}
		err := emit(out)
		out.Unref()
		if err != nil {
			return err
		}
	}
}

func (f *audioFilter) close() {
	if f.graph != nil {
		for _, fc := range []*astiav.FilterContext{f.src, f.sink} {
			if fc != nil {
				fc.Free() // unlinks it from the graph and from go-astiav's registry
			}
		}
		f.graph.Free()
		f.graph = nil
	}
}
