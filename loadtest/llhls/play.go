package llhls

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/glint-video/glint/media"
)

// hintFetch is the download of a preload-hinted part, started before the part exists so
// that it arrives as soon as the origin has it.
type hintFetch struct {
	uri     string
	cancel  context.CancelFunc
	done    chan struct{}
	body    []byte
	arrived time.Time
	err     error
}

// startHint starts downloading the hinted part uri, replacing any other hint download.
func (v *viewer) startHint(ctx context.Context, uri string, u *url.URL) {
	v.stopHint()
	hctx, cancel := context.WithCancel(ctx)
	h := &hintFetch{uri: uri, cancel: cancel, done: make(chan struct{})}
	buf := v.spare
	v.spare = nil
	go func() {
		defer close(h.done)
		h.body, h.arrived, h.err = v.get(hctx, u, buf)
	}()
	v.hint = h
}

// stopHint cancels the hint download in flight, if any, and keeps its buffer.
func (v *viewer) stopHint() {
	if h := v.hint; h != nil {
		h.cancel()
		<-h.done
		v.spare, v.hint = h.body[:0], nil
	}
}

// takeHint returns the hint download of part uri when there is one and it succeeded;
// release gives its buffer back once the body is used.
func (v *viewer) takeHint(ctx context.Context, uri string) (body []byte, arrived time.Time, release func(), ok bool) {
	h := v.hint
	if h == nil || h.uri != uri {
		return nil, time.Time{}, nil, false
	}
	select {
	case <-h.done:
	case <-ctx.Done():
		return nil, time.Time{}, nil, false
	}
	if h.err != nil {
		v.log.Debug("llhls: preload hint download failed", "uri", uri, "err", h.err)
		v.stopHint()
		return nil, time.Time{}, nil, false
	}
	return h.body, h.arrived, v.stopHint, true
}

// playPart downloads part idx of seg (or takes it from the preload hint download) and
// reports its samples.
func (v *viewer) playPart(ctx context.Context, seg *segment, idx int) error {
	p := seg.parts[idx]
	if err := v.follow(ctx, seg); err != nil {
		return err
	}
	if body, arrived, release, ok := v.takeHint(ctx, p.uri); ok {
		defer release()
		return v.play(seg, p.offset, body, arrived)
	}
	body, arrived, err := v.download(ctx, p.uri)
	if err != nil {
		return err
	}
	return v.play(seg, p.offset, body, arrived)
}

// playSegment downloads a whole segment (one whose parts the playlist no longer lists).
func (v *viewer) playSegment(ctx context.Context, seg *segment) error {
	if err := v.follow(ctx, seg); err != nil {
		return err
	}
	body, arrived, err := v.download(ctx, seg.uri)
	if err != nil {
		return err
	}
	return v.play(seg, 0, body, arrived)
}

// follow applies seg's discontinuity and init segment before its media is read.
func (v *viewer) follow(ctx context.Context, seg *segment) error {
	if seg.disc && seg.msn != v.track.discMSN {
		v.track.discMSN, v.track.haveLast = seg.msn, false
		v.log.Debug("llhls: discontinuity", "msn", seg.msn)
	}
	if seg.mapURI == "" {
		if !v.have {
			return errors.New("segment without EXT-X-MAP (only fMP4 is supported)")
		}
		return nil
	}
	if v.have && seg.mapURI == v.initURI {
		return nil
	}
	u, err := resolve(v.media, seg.mapURI)
	if err != nil {
		return err
	}
	body, _, err := v.get(ctx, u, nil)
	if err != nil {
		return fmt.Errorf("init segment: %w", err)
	}
	vi, err := parseInit(body)
	if err != nil {
		return fmt.Errorf("llhls: %s: %w", u.Redacted(), err)
	}
	if v.have {
		v.log.Debug("llhls: new init segment", "uri", seg.mapURI, "msn", seg.msn)
	}
	v.init, v.initURI, v.have = vi, seg.mapURI, true
	return nil
}

// play reports the video samples of a downloaded part (or segment) of seg that starts
// offset into the segment.
func (v *viewer) play(seg *segment, offset time.Duration, body []byte, arrived time.Time) error {
	tr, first := &v.track, true
	_, err := walkFragments(body, v.init, func(s sampleInfo) {
		if first {
			first = false
			if !tr.haveSeg || tr.segMSN != seg.msn {
				tr.segMSN, tr.haveSeg = seg.msn, true
				tr.segBase = s.decode - min(s.decode, uint64(max(media.Ticks(offset, v.init.timescale), 0)))
			}
		}
		if tr.haveLast && s.decode <= tr.lastDecode {
			return // already reported (a segment downloaded after some of its parts)
		}
		tr.haveLast, tr.lastDecode = true, s.decode
		if !v.joined {
			if !s.keyframe {
				return
			}
			v.joined = true
			if v.cfg.OnJoin != nil {
				v.cfg.OnJoin(arrived)
			}
		}
		if v.cfg.OnFrame == nil {
			return
		}
		f := Frame{Arrived: arrived, Keyframe: s.keyframe, Bytes: len(s.data),
			PTS: media.Duration(int64(s.decode)+int64(s.cto), v.init.timescale)}
		if t, ok := media.FindCaptureTimeAVCC(s.data); ok {
			f.Captured, f.HasCapture = t, true
		} else if !seg.pdt.IsZero() {
			f.Captured, f.HasCapture = seg.pdt.Add(media.Duration(int64(s.decode)-int64(tr.segBase), v.init.timescale)), true
		}
		v.cfg.OnFrame(f)
	})
	if err != nil {
		return fmt.Errorf("llhls: parse fragment of segment %d: %w", seg.msn, err)
	}
	return nil
}

// download fetches a part or segment (uri relative to the media playlist) into the
// viewer's reused buffer and reports when its body finished arriving.
func (v *viewer) download(ctx context.Context, uri string) ([]byte, time.Time, error) {
	u, err := resolve(v.media, uri)
	if err != nil {
		return nil, time.Time{}, err
	}
	body, arrived, err := v.get(ctx, u, v.partBuf)
	v.partBuf = body
	return body, arrived, err
}
