package testnode

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
)

// PlayCodecs starts a WHEP viewer of url whose offer has only codecs (e.g. a browser without
// an HEVC or AV1 decoder) and records what it receives. An offer answered 406 is made again
// every 100 ms until ctx ends: a room's alternate video (sfu.PublishAlternate) exists only
// once its LL-HLS ladder has started.
func PlayCodecs(t testing.TB, ctx context.Context, url string, codecs []webrtc.RTPCodecParameters, kinds ...webrtc.RTPCodecType) *Received {
	t.Helper()
	for {
		rec := NewReceived()
		sess, err := client.Play(ctx, url, client.Options{LoopbackOnly: true, Codecs: codecs, OnTrack: RecordTrack(rec)}, kinds...)
		var he *client.HTTPError
		switch {
		case err == nil:
			t.Cleanup(func() { _ = sess.Close(context.Background()) })
			return rec
		case !errors.As(err, &he) || he.Status != http.StatusNotAcceptable || ctx.Err() != nil:
			t.Fatalf("viewer of %s offering %d codecs: %v", url, len(codecs), err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
