// Package llhls is a cheap Low-Latency HLS viewer for load tests. It behaves like a real
// low-latency player (hls.js in lowLatencyMode): it picks a variant of the multivariant
// playlist, joins at the live edge (the last independent part, honouring PART-HOLD-BACK),
// follows the media playlist with blocking reloads (_HLS_msn/_HLS_part), requests the part
// named by EXT-X-PRELOAD-HINT before it exists so that it arrives as soon as the origin has
// it, parses every fMP4 part with mp4ff and reports each video sample with the time it
// arrived and the time it was captured (from Glint's capture-time SEI when the sample
// carries one, else from EXT-X-PROGRAM-DATE-TIME). It talks only public HLS, so it can
// measure any LL-HLS origin.
package llhls

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Frame is one video sample of a downloaded part.
type Frame struct {
	// Arrived is when the body of the part holding the sample finished downloading.
	Arrived time.Time
	// Captured is the sample's capture time: from its capture-time SEI when it has one,
	// else from the segment's EXT-X-PROGRAM-DATE-TIME plus the sample's media-time offset.
	Captured time.Time
	// HasCapture says whether Captured is known (SEI or PROGRAM-DATE-TIME).
	HasCapture bool
	Keyframe   bool
	Bytes      int           // sample size in bytes
	PTS        time.Duration // presentation time on the track's timescale
}

// Config says what to play and where to report.
type Config struct {
	URL        string // multivariant (or media) playlist URL, e.g. http://host/hls/room/index.m3u8
	Rendition  string // "" picks the highest-bandwidth variant; else a variant URI substring
	HTTPClient *http.Client
	OnJoin     func(firstFrame time.Time) // first decodable video frame (keyframe) downloaded
	OnFrame    func(Frame)                // every video sample of every part, in order
	Logger     *slog.Logger
}

// Run plays cfg.URL until ctx is done (or the playlist ends: EXT-X-ENDLIST, then it
// returns nil). It returns a wrapped error if it cannot start: a malformed URL or a
// response that is not HLS. A playlist that is not there yet (404, the room is not live)
// is retried with backoff until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	v, err := newViewer(cfg)
	if err != nil {
		return err
	}
	return v.run(ctx)
}
