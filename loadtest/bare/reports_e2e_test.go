package bare

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// relay forwards the datagrams between a viewer and the server's candidate, as a network
// between them would, and keeps a copy of what the viewer sends as RTCP (RFC 5761: first
// byte 128-191, payload type 192-223). The server sees the relay's address as the
// viewer's.
type relay struct {
	conn *net.UDPConn
	done chan struct{}

	mu             sync.Mutex
	server         netip.AddrPort // set once the answer is known
	viewerIsClient bool           // the viewer's DTLS role, from the answer
	viewer         netip.AddrPort
	fromViewer     int      // datagrams
	rtcp           [][]byte // the viewer's RTCP, in order
}

// startRelay starts a relay on loopback; it stops at the end of the test.
func startRelay(t *testing.T) *relay {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{conn: conn, done: make(chan struct{})}
	go r.run()
	t.Cleanup(func() {
		_ = conn.Close()
		<-r.done
	})
	return r
}

func (r *relay) run() {
	defer close(r.done)
	buf := make([]byte, 1<<16)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		b := buf[:n]
		r.mu.Lock()
		to := r.server
		if from == r.server {
			to = r.viewer
		} else {
			r.viewer = from
			r.fromViewer++
			if classify(b) == classRTP && len(b) > 1 && b[1] >= 192 && b[1] <= 223 {
				r.rtcp = append(r.rtcp, slices.Clone(b))
			}
		}
		r.mu.Unlock()
		if to.IsValid() {
			_, _ = r.conn.WriteToUDPAddrPort(b, to)
		}
	}
}

// counts returns the datagrams the viewer sent and its RTCP packets so far.
func (r *relay) counts() (datagrams int, rtcpPackets [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fromViewer, slices.Clone(r.rtcp)
}

// RoundTrip passes a request on, and rewrites a WHEP answer so that the viewer's only
// candidate is the relay, which forwards to the candidate the viewer would have picked.
func (r *relay) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || resp.StatusCode != http.StatusCreated {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	ans, err := parseAnswer(string(body))
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	server, err := pickCandidate(ans, true)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	r.mu.Lock()
	r.server, r.viewerIsClient = server, ans.dtlsClient
	r.mu.Unlock()
	rewritten := rewriteCandidates(string(body), server, r.conn.LocalAddr().(*net.UDPAddr).AddrPort())
	resp.Body, resp.ContentLength = io.NopCloser(strings.NewReader(rewritten)), int64(len(rewritten))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// rewriteCandidates replaces the candidate at server by one at relay, dropping the others.
func rewriteCandidates(sdp string, server, relay netip.AddrPort) string {
	lines := strings.Split(sdp, "\r\n")
	out := lines[:0]
	for _, line := range lines {
		if strings.HasPrefix(line, "a=candidate:") {
			f := strings.Fields(line)
			if len(f) < 6 || f[4] != server.Addr().String() || f[5] != strconv.Itoa(int(server.Port())) {
				continue
			}
			f[4], f[5] = relay.Addr().String(), strconv.Itoa(int(relay.Port()))
			line = strings.Join(f, " ")
		}
		out = append(out, line)
	}
	return strings.Join(out, "\r\n")
}

// seqRecorder keeps the sequence numbers and the kind of each SSRC delivered to OnPacket.
type seqRecorder struct {
	mu    sync.Mutex
	seqs  map[uint32]map[uint16]bool
	kinds map[uint32]Kind
}

func (s *seqRecorder) onPacket(p *Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seqs == nil {
		s.seqs, s.kinds = map[uint32]map[uint16]bool{}, map[uint32]Kind{}
	}
	if s.seqs[p.SSRC] == nil {
		s.seqs[p.SSRC] = map[uint16]bool{}
	}
	s.seqs[p.SSRC][p.Seq], s.kinds[p.SSRC] = true, p.Kind
}

// streams is the number of SSRCs received.
func (s *seqRecorder) streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seqs)
}

func (s *seqRecorder) kind(ssrc uint32) Kind {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kinds[ssrc]
}

func (s *seqRecorder) received(ssrc uint32, seq uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seqs[ssrc][seq]
}

// playRelayed starts a node with a publisher feeding room "rr", and a viewer of it whose
// media goes through a relay. The viewer is closed by the returned func (and at the end).
func playRelayed(t *testing.T, opts Options) (ctx context.Context, n *testnode.Node, v *Viewer, r *relay, stop func()) {
	t.Helper()
	ctx, n, pub := testnode.StartRoom(t, 60*time.Second, "rr")
	feedCtx, cancelFeed := context.WithCancel(ctx)
	var feeding sync.WaitGroup
	feeding.Go(func() { pub.Feed(feedCtx) })
	t.Cleanup(func() { cancelFeed(); feeding.Wait() })
	r = startRelay(t)
	opts.LoopbackOnly, opts.HTTPClient = true, &http.Client{Transport: r}
	v, err := Play(ctx, n.WHEP("rr"), opts)
	if err != nil {
		t.Fatalf("Play: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := v.Close(context.WithoutCancel(ctx)); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return ctx, n, v, r, stop
}

// serverKeys is the context with which the server decrypts the viewer's SRTCP: the keys
// exported from the viewer's DTLS session as the server's side derives them (its remote
// keys, in the opposite DTLS role), independently of the viewer's own derivation.
func serverKeys(t *testing.T, v *Viewer, viewerIsClient bool) *srtp.Context {
	t.Helper()
	profile, _ := v.dtls.SelectedSRTPProtectionProfile()
	state, _ := v.dtls.ConnectionState()
	cfg := srtp.Config{Profile: srtp.ProtectionProfile(profile)}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, !viewerIsClient); err != nil {
		t.Fatal(err)
	}
	c, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, cfg.Profile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReceiverReportsReachTheServer plays a live room with a bare viewer sending receiver
// reports every 200 ms for 2 s through a relay that captures them. The server measured the
// viewer's round trip on both tracks from the reports' LSR and DLSR (GET /api/sessions/{id}:
// rtt_ms), so it decrypted and parsed them, and it saw no loss. The captured packets are
// the reports the viewer counted, and checkCapturedReports reads them with the server's keys.
func TestReceiverReportsReachTheServer(t *testing.T) {
	const interval, run = 200 * time.Millisecond, 2 * time.Second
	rec := &seqRecorder{}
	ctx, n, v, r, stop := playRelayed(t, Options{ReceiverReports: interval, OnPacket: rec.onPacket})
	started := time.Now()
	testkit.Eventually(t, ctx, "the server's RTT of both tracks, from the viewer's reports", func() bool {
		tracks := n.SessionStats(t, v.Location()).Tracks
		measured := 0
		for _, tr := range tracks {
			if tr.RTTMillis > 0 {
				measured++
			}
		}
		return len(tracks) == 2 && measured == 2
	})
	time.Sleep(time.Until(started.Add(run)))
	info := n.SessionStats(t, v.Location())
	stop()
	elapsed := time.Since(started)
	sent := v.ReportsSent()
	for _, tr := range info.Tracks {
		t.Logf("server's %s track: rtt %.3f ms, fraction lost %v, %d reports, jitter %.2f ms",
			tr.Kind, tr.RTTMillis, tr.FractionLost, tr.ReceiverReports, tr.JitterMs)
		if tr.RTTMillis <= 0 || tr.RTTMillis > 500 || tr.FractionLost != 0 {
			t.Errorf("server's %s track: rtt %v ms, fraction lost %v; want a loopback RTT, no loss", tr.Kind, tr.RTTMillis, tr.FractionLost)
		}
		// A block about the track in each report the server had read when asked, and the
		// jitter of the feed's uneven timing (see checkCapturedReports).
		if tr.ReceiverReports == 0 || tr.ReceiverReports > sent || tr.JitterMs <= 0 {
			t.Errorf("server's %s track: %d receiver reports (viewer sent %d), jitter %v ms", tr.Kind, tr.ReceiverReports, sent, tr.JitterMs)
		}
	}
	testkit.Eventually(t, ctx, "the relay to pass on every report", func() bool {
		_, pkts := r.counts()
		return uint64(len(pkts)) >= sent
	})
	_, pkts := r.counts()
	if uint64(len(pkts)) != sent || sent < uint64(run/interval)/2 || sent > uint64(elapsed/interval)+1 {
		t.Errorf("%d reports captured, %d sent in %s at %s intervals", len(pkts), sent, elapsed.Round(time.Millisecond), interval)
	}
	checkCapturedReports(t, serverKeys(t, v, r.viewerIsClient), pkts, rec)
}

// checkCapturedReports decrypts the viewer's reports with the server's keys: each is an RR
// with a block per SSRC received so far, then the SDES CNAME of the RR's sender (the same
// in all); the extended highest sequence numbers grow and are numbers the viewer got;
// nothing is lost (loopback); the last report has both SSRCs with LSR set, a DLSR under
// 2 s (one SR a second) and jitter near what the feed makes: it sends a frame every 40 ms
// stamped 33.3 ms apart (600 ticks at 90 kHz) and 20 ms of audio every 40 ms (960 ticks at
// 48 kHz), so |D| is about that for every packet.
func checkCapturedReports(t *testing.T, dec *srtp.Context, pkts [][]byte, rec *seqRecorder) {
	t.Helper()
	highest := map[uint32]uint32{}
	var sender uint32
	var last []rtcp.ReceptionReport
	for i, b := range pkts {
		plain, err := dec.DecryptRTCP(nil, b, nil)
		if err != nil {
			t.Fatalf("report %d: decrypt with the server's keys: %v", i, err)
		}
		rr, cname := parseReport(t, plain)
		if i == 0 {
			sender = rr.SSRC
		}
		if rr.SSRC != sender || cname.Source != sender || cname.Items[0].Type != rtcp.SDESCNAME || cname.Items[0].Text == "" {
			t.Fatalf("report %d: RR from %d, SDES %+v; want RR and CNAME of sender %d", i, rr.SSRC, cname, sender)
		}
		if len(rr.Reports) == 0 || len(rr.Reports) > 2 {
			t.Fatalf("report %d has %d blocks, want video and audio", i, len(rr.Reports))
		}
		for _, blk := range rr.Reports {
			if blk.LastSequenceNumber < highest[blk.SSRC] || !rec.received(blk.SSRC, uint16(blk.LastSequenceNumber)) ||
				blk.TotalLost != 0 || blk.FractionLost != 0 {
				t.Errorf("report %d: block %+v (highest before %d): want a growing number the viewer got, nothing lost", i, blk, highest[blk.SSRC])
			}
			highest[blk.SSRC] = blk.LastSequenceNumber
		}
		last = rr.Reports
	}
	t.Logf("%d reports; the last: %+v", len(pkts), last)
	if len(last) != 2 {
		t.Fatalf("last report has %d blocks, want video and audio", len(last))
	}
	for _, blk := range last {
		d := uint32(600)
		if rec.kind(blk.SSRC) == Audio {
			d = 960
		}
		if blk.LastSenderReport == 0 || blk.Delay > 2*65536 || blk.Jitter < d/2 || blk.Jitter > 9000 {
			t.Errorf("last report's block %+v (kind %d): want LSR, DLSR under 2 s, jitter about %d", blk, rec.kind(blk.SSRC), d)
		}
	}
}

// TestNoReportsWhenOff: with ReceiverReports 0 the viewer sends nothing but STUN. Over 2 s
// (a consent check included) the relay passes its checks and no RTCP, the viewer has no
// reporter and counts no report, and the server has no RTT for it.
func TestNoReportsWhenOff(t *testing.T) {
	rec := &seqRecorder{}
	_, n, v, r, stop := playRelayed(t, Options{OnPacket: rec.onPacket})
	time.Sleep(2200 * time.Millisecond)
	info := n.SessionStats(t, v.Location())
	stop()
	datagrams, pkts := r.counts()
	if v.rx.rep != nil || v.ReportsSent() != 0 || len(pkts) != 0 || datagrams == 0 {
		t.Errorf("reporter %v, %d reports sent; relay saw %d RTCP packets in %d datagrams; want STUN only", v.rx.rep, v.ReportsSent(), len(pkts), datagrams)
	}
	if len(info.Tracks) != 2 {
		t.Errorf("server lists %d tracks, want 2", len(info.Tracks))
	}
	for _, tr := range info.Tracks {
		if tr.RTTMillis != 0 || tr.ReceiverReports != 0 {
			t.Errorf("server's %s track has rtt %v ms and %d reports without receiver reports", tr.Kind, tr.RTTMillis, tr.ReceiverReports)
		}
	}
	if n := rec.streams(); n != 2 {
		t.Errorf("viewer received %d streams, want video and audio", n)
	}
}
