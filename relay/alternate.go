package relay

import (
	"context"
	"net/url"
	"sync"
	"time"

	"github.com/glint-video/glint/sfu"
)

// The origin's alternate video. An H.265 or AV1 room's origin also sends an H.264 version
// of its video to viewers whose browsers lack the codec (sfu.PublishAlternate, made by the
// origin's LL-HLS ladder). A relay carries the room's own tracks only, so an edge has no
// such version; while the origin has one, the relay tells the edge's room where it is
// (sfu.RelayPublisher.SetAlternateAt), and an H.264-only viewer on the edge gets a 406 that
// names the room's codec and the room's WHEP URL on the origin, instead of a bare refusal.

// alternateCheckPeriod is how often a relay of an H.265/AV1 room asks the origin whether it
// has the alternate video (it appears once the origin's ladder runs, and goes with it).
const alternateCheckPeriod = 5 * time.Second

// followOriginAlternate keeps pub's note of the origin's alternate video current while the
// relay of an H.265/AV1 room runs (videoCodec: the room's, as the upstream named it): asked
// once before it returns, so the viewer that started the relay has it, then every
// alternateCheckPeriod until the returned stop. Rooms whose video every browser decodes
// need no note.
func (m *Manager) followOriginAlternate(rr *roomRelay, pub *sfu.RelayPublisher, videoCodec, originURL string) (stop func()) {
	if videoCodec != "H265" && videoCodec != "AV1" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(rr.ctx)
	whep := originURL + "/whep/" + url.PathEscape(rr.room)
	noted := ""
	check := func() {
		at := ""
		if info, err := m.roomInfo(ctx, originURL, rr.room); err == nil && info.Alternate != nil {
			at = whep
		}
		if at == noted || ctx.Err() != nil {
			return
		}
		noted = at
		pub.SetAlternateAt(at)
		m.log.Info("relay: viewers without the room's codec are sent to the origin's H.264 alternate video (not relayed)",
			"room", rr.room, "codec", videoCodec, "alternate_at", at)
	}
	check()
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(alternateCheckPeriod)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				check()
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}
