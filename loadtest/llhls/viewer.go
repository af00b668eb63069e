package llhls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// viewer is one playing client. Its methods run on Run's goroutine, except the preload
// hint download (hintFetch).
type viewer struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	start  *url.URL
	media  *url.URL

	plBuf   []byte // playlist bodies
	partBuf []byte // part and segment bodies
	hint    *hintFetch
	spare   []byte // a free buffer for the next hint download

	init    videoInit
	initURI string
	have    bool // init is set
	joined  bool
	track   sampleTrack
	backoff backoff
	stale   bool // the last reload brought nothing new: poll before the next
}

// sampleTrack remembers where the samples delivered so far are, across parts.
type sampleTrack struct {
	haveLast   bool
	lastDecode uint64 // decode time of the last sample reported (to skip repeats)
	segMSN     uint64
	haveSeg    bool
	segBase    uint64 // decode time of the first sample of segment segMSN
	discMSN    uint64 // the last discontinuity followed
}

func newViewer(cfg Config) (*viewer, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("llhls: bad URL %q: %w", cfg.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("llhls: bad URL %q: want http(s)://host/...", cfg.URL)
	}
	v := &viewer{cfg: cfg, log: cfg.Logger, client: cfg.HTTPClient, start: u}
	if v.log == nil {
		v.log = slog.Default()
	}
	v.log = v.log.With("url", u.Redacted())
	if v.client == nil {
		v.client = http.DefaultClient
	}
	return v, nil
}

func (v *viewer) run(ctx context.Context) error {
	defer v.stopHint()
	pl, err := v.open(ctx)
	if err != nil || pl == nil {
		return err
	}
	msn, idx, _ := pl.joinPoint()
	v.log.Debug("llhls: joining", "msn", msn, "part", idx)
	for ctx.Err() == nil {
		seg := pl.find(msn)
		switch {
		case seg == nil && len(pl.segments) > 0 && msn < pl.segments[0].msn:
			v.log.Warn("llhls: fell out of the playlist window, rejoining at the live edge", "msn", msn)
			msn, idx, _ = pl.joinPoint()
			v.track.haveLast = false
		case seg != nil && idx < len(seg.parts):
			if err := v.playPart(ctx, seg, idx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				v.log.Warn("llhls: part skipped", "msn", msn, "part", idx, "err", err)
			}
			idx++
		case seg != nil && seg.uri != "" && len(seg.parts) == 0:
			if err := v.playSegment(ctx, seg); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				v.log.Warn("llhls: segment skipped", "msn", msn, "err", err)
			}
			msn, idx = msn+1, 0
		case seg != nil && seg.uri != "":
			msn, idx = msn+1, 0 // every part of a complete segment played
		case pl.endList:
			v.log.Debug("llhls: playlist ended")
			return nil
		default:
			next, err := v.reload(ctx, pl, msn, idx)
			if err != nil {
				return err
			}
			if next != nil {
				pl = next
			}
		}
	}
	return nil
}

// open fetches the playlist at Config.URL (following a multivariant playlist to the
// chosen variant) until its media playlist lists a segment. A nil playlist and nil error
// mean ctx ended first.
func (v *viewer) open(ctx context.Context) (*mediaPlaylist, error) {
	for {
		body, _, err := v.get(ctx, v.start, v.plBuf)
		v.plBuf = body
		if err == nil {
			vs, multi, perr := parseMultivariant(body)
			if perr != nil {
				return nil, fmt.Errorf("llhls: %s: %w", v.start.Redacted(), perr)
			}
			v.media = v.start
			var pickErr error
			if multi {
				var vr variant
				if vr, pickErr = pickVariant(vs, v.cfg.Rendition); pickErr == nil {
					if v.media, err = resolve(v.start, vr.uri); err != nil {
						return nil, fmt.Errorf("llhls: %w", err)
					}
				} else {
					// The rendition may not be ready yet: a multivariant playlist lists
					// only the variants that have a segment.
					v.log.Debug("llhls: waiting for the rendition", "err", pickErr)
				}
			}
			if pickErr == nil {
				if pl, err := v.fetchMedia(ctx, v.media); err == nil && len(pl.segments) > 0 {
					return pl, nil
				} else if errors.Is(err, errNotHLS) {
					return nil, err
				}
			}
		} else if ctx.Err() == nil {
			v.log.Debug("llhls: playlist not available yet", "err", err)
		}
		if !v.backoff.wait(ctx) {
			return nil, nil
		}
	}
}

// fetchMedia fetches and parses a media playlist.
func (v *viewer) fetchMedia(ctx context.Context, u *url.URL) (*mediaPlaylist, error) {
	body, _, err := v.get(ctx, u, v.plBuf)
	v.plBuf = body
	if err != nil {
		return nil, err
	}
	pl, err := parseMedia(body)
	if err != nil {
		return nil, fmt.Errorf("llhls: %s: %w", u.Redacted(), err)
	}
	return pl, nil
}

// reload waits for part (msn, idx), the one after the last listed: it starts downloading
// the preload hint and asks for the playlist with a blocking reload (or polls when the
// server cannot block). It returns nil and no error when the playlist is unchanged for now.
func (v *viewer) reload(ctx context.Context, pl *mediaPlaylist, msn uint64, idx int) (*mediaPlaylist, error) {
	if pl.hint != "" && (v.hint == nil || v.hint.uri != pl.hint) {
		if u, err := resolve(v.media, pl.hint); err == nil {
			v.startHint(ctx, pl.hint, u)
		}
	}
	u := v.media
	if pl.canBlock && !v.stale {
		u = withDirectives(v.media, msn, idx)
	} else if !sleep(ctx, pl.pollInterval()) {
		return nil, nil
	}
	asked := time.Now()
	next, err := v.fetchMedia(ctx, u)
	switch {
	case err == nil:
		v.backoff.reset()
		// A reload that brought nothing new (a server that does not block as it says):
		// poll instead of asking again at once.
		m0, p0, c0 := pl.edge()
		m1, p1, c1 := next.edge()
		v.stale = m0 == m1 && p0 == p1 && c0 == c1 && !next.endList
		return next, nil
	case ctx.Err() != nil:
		return nil, nil
	case errors.Is(err, errNotHLS):
		return nil, err
	case httpStatus(err) == http.StatusBadRequest && pl.canBlock:
		// Asked too far ahead (the stream restarted?): take the playlist as it is.
		next, err = v.fetchMedia(ctx, v.media)
		if err == nil {
			return next, nil
		}
	}
	// A blocking reload that timed out (503 after waiting) is asked again at once;
	// anything else, or a quick 503, waits.
	if httpStatus(err) != http.StatusServiceUnavailable || time.Since(asked) < pl.pollInterval() {
		v.log.Debug("llhls: playlist reload failed", "err", err)
		v.backoff.wait(ctx)
	}
	return nil, nil
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
