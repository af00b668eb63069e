package testnode

import (
	"context"
	"time"
)

// Feed sends 25 video frames a second (one packet each, a keyframe every second) and an
// audio packet with each, until ctx ends or a write fails (the session closed).
func (p *Publisher) Feed(ctx context.Context) {
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		payload := DeltaPayload(n)
		if n%25 == 0 {
			payload = KeyframePayload(n)
		}
		if p.WriteVideo(payload, true) != nil || p.WriteAudio(AudioPayload(n)) != nil {
			return
		}
	}
}
