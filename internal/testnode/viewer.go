package testnode

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/signaling"
)

// Received is what a viewer got, per kind ("video", "audio"), in arrival order.
type Received struct {
	mu   sync.Mutex
	pkts map[string][]*rtp.Packet
}

// NewReceived returns an empty Received.
func NewReceived() *Received { return &Received{pkts: map[string][]*rtp.Packet{}} }

func (r *Received) add(kind string, pkt *rtp.Packet) {
	own := *pkt
	own.Payload = append([]byte(nil), pkt.Payload...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pkts[kind] = append(r.pkts[kind], &own)
}

// Packets returns the packets of kind so far.
func (r *Received) Packets(kind string) []*rtp.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*rtp.Packet(nil), r.pkts[kind]...)
}

// Snapshot returns the payloads and sequence numbers of kind so far.
func (r *Received) Snapshot(kind string) ([][]byte, []uint16) {
	pkts := r.Packets(kind)
	payloads, seqs := make([][]byte, len(pkts)), make([]uint16, len(pkts))
	for i, p := range pkts {
		payloads[i], seqs[i] = p.Payload, p.SequenceNumber
	}
	return payloads, seqs
}

// Count returns how many packets of kind arrived.
func (r *Received) Count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pkts[kind])
}

// SSRCs returns the distinct SSRCs of kind's packets.
func (r *Received) SSRCs(kind string) map[uint32]bool {
	ssrcs := map[uint32]bool{}
	for _, p := range r.Packets(kind) {
		ssrcs[p.SSRC] = true
	}
	return ssrcs
}

// RecordTrack returns an OnTrack that records every packet into rec.
func RecordTrack(rec *Received) func(*webrtc.TrackRemote, *webrtc.RTPReceiver) {
	return func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		kind := track.Kind().String()
		for {
			pkt, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			rec.add(kind, pkt)
		}
	}
}

// StartViewer plays url (a WHEP URL) over loopback, recording every packet, and waits until
// connected. The session closes at the end of the test.
func StartViewer(t testing.TB, ctx context.Context, url string) (*client.Session, *Received) {
	t.Helper()
	return play(t, ctx, url, client.Options{})
}

// PlayThrough is StartViewer with all of the viewer's media through conn (a wrapper that
// impairs one viewer's path).
func PlayThrough(t testing.TB, ctx context.Context, url string, conn net.PacketConn) (*client.Session, *Received) {
	t.Helper()
	mux := webrtc.NewICEUDPMux(nil, conn)
	t.Cleanup(func() { _ = mux.Close() })
	return play(t, ctx, url, client.Options{SettingEngine: func(se *webrtc.SettingEngine) { se.SetICEUDPMux(mux) }})
}

func play(t testing.TB, ctx context.Context, url string, opts client.Options) (*client.Session, *Received) {
	t.Helper()
	rec := NewReceived()
	opts.LoopbackOnly = true
	opts.OnTrack = RecordTrack(rec)
	sess, err := client.Play(ctx, url, opts)
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("viewer connect: %v", err)
	}
	return sess, rec
}

// SessionStats reads GET /api/sessions/{id} for a session resource URL (its Location).
func (n *Node) SessionStats(t testing.TB, location string) signaling.SessionInfo {
	t.Helper()
	id := location[strings.LastIndex(location, "/")+1:]
	resp, err := http.Get(n.URL + "/api/sessions/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info signaling.SessionInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatalf("session stats: %v", err)
	}
	return info
}

// PostOffer POSTs an SDP offer to a WHIP or WHEP url and returns the response with its body.
func PostOffer(t testing.TB, url, offer string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, "application/sdp", strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// DeleteResource ends a session made by a raw POST to url (a WHIP or WHEP URL) whose
// answer had the Location location; errors are ignored (cleanup).
func DeleteResource(url, location string) {
	base := url[:strings.Index(url, "/wh")]
	req, err := http.NewRequest(http.MethodDelete, base+location, nil)
	if err != nil {
		return
	}
	if r, err := http.DefaultClient.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
}

// GatheredOffer creates an offer on pc, sets it as the local description and waits for ICE
// gathering: the offer a WHIP or WHEP client POSTs, candidates included.
func GatheredOffer(pc *webrtc.PeerConnection, opts *webrtc.OfferOptions) (string, error) {
	offer, err := pc.CreateOffer(opts)
	if err != nil {
		return "", fmt.Errorf("create offer: %w", err)
	}
	return client.GatherLocal(context.Background(), pc, offer)
}
