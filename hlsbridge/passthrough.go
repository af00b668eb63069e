package hlsbridge

import (
	"fmt"
	"slices"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/transcoder"
)

// The source rendition of an H.265 or AV1 room: the source passed through (hvc1 / av01 in
// fMP4), with an H.264 rendition of the source's size beside it for players without the
// codec, encoded from the same decode as the lower rungs.

// hlsFormat is the fMP4 sample format of a rung: the source's codec for a passthrough rung
// of a source the ladder passes through, H.264 for every other rung.
func hlsFormat(codec string, r transcoder.Rung) hls.VideoFormat {
	if !r.Passthrough || !transcoder.CanPassThrough(codec) {
		return hls.H264
	}
	switch codec {
	case "H265":
		return hls.H265
	case "AV1":
		return hls.AV1
	}
	return hls.H264
}

// withH264SourceRung adds, after the passthrough rungs of an H.265 or AV1 source, an H.264
// rung of the source's size (named after its height, e.g. "720p": the ladder has no
// re-encoded rung that tall), so that every player has the source's size in a codec it
// plays. rungs has its passthrough rungs first.
func withH264SourceRung(rungs []transcoder.Rung, codec string, w, h int) []transcoder.Rung {
	if codec == "H264" || !transcoder.CanPassThrough(codec) {
		return rungs
	}
	at := slices.IndexFunc(rungs, func(r transcoder.Rung) bool { return !r.Passthrough })
	if at == 0 || len(rungs) == 0 {
		return rungs // no passthrough rung: every rung is H.264 already
	}
	if at < 0 {
		at = len(rungs)
	}
	name := fmt.Sprintf("%dp", h)
	if slices.ContainsFunc(rungs, func(r transcoder.Rung) bool { return r.Name == name }) {
		name = "source-h264"
	}
	r := transcoder.Rung{Name: name, Width: w, Height: h, BitrateKbps: rungs[0].BitrateKbps, SourceSize: true}
	return slices.Insert(slices.Clone(rungs), at, r)
}

// trackInfo describes rung i's rendition at a (new) source keyframe key: a passthrough
// rung gets the source's format and parameter sets (its new init segment), an encoded one
// only its format (its encoder's next IDR brings its parameter sets).
func (v *videoPipe) trackInfo(i int, key []byte) hls.VideoTrackInfo {
	r := v.rungs[i]
	info := hls.VideoTrackInfo{Format: hlsFormat(v.codec, r), FPS: float64(v.fps), BitrateKbps: r.BitrateKbps}
	if !r.Passthrough || !transcoder.CanPassThrough(v.codec) {
		return info
	}
	switch info.Format {
	case hls.H264:
		sps, pps := media.H264ParameterSets(media.SplitAnnexB(key))
		if sps != nil && pps != nil {
			info.SPS, info.PPS = sps, pps
		}
	case hls.H265:
		var p media.H265ParamSets
		for nal := range media.SplitAnnexB(key) {
			p.Keep(nal)
		}
		if p.VPS != nil && p.SPS != nil && p.PPS != nil {
			info.VPS, info.SPS, info.PPS = p.VPS, p.SPS, p.PPS
		}
	case hls.AV1:
		info.SequenceHeader = av1SequenceHeaderOBU(key)
	}
	return info
}
