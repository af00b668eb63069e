package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/stats"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// startServe runs `glint serve` in-process (WebRTC only: no LL-HLS, no ingest) until the
// test ends and returns its base URL once /healthz answers.
func startServe(t testing.TB, args ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	base := []string{"--http-addr", addr, "--udp-port", "0", "--ice-ip", "127.0.0.1", "--ice-tcp=false",
		"--hls=false", "--rtmp-addr=", "--srt-addr=", "--log-level", "error", "--ice-timeout", "3s",
		"--limit-exempt="} // the tests' clients are 127.0.0.x, which the per-IP limits skip by default
	go func() { done <- serve(ctx, append(base, args...), io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	url := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatal("glint serve did not answer /healthz within 20 s")
		}
	}
}

// livePublisher publishes room with synthetic H.264 + Opus, a keyframe every 10 frames at
// 30 fps, until the test ends.
func livePublisher(t testing.TB, ctx context.Context, url, room string) {
	t.Helper()
	pub := testnode.StartPublisher(t, ctx, url+"/whip/"+room, client.Options{})
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			payload := testnode.DeltaPayload(i)
			if i%10 == 0 {
				payload = testnode.KeyframePayload(i)
			}
			_ = pub.WriteVideo(payload, true)
			_ = pub.WriteAudio(testnode.AudioPayload(i))
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	// The room is live once the first packets are in: a viewer sooner would get 404.
	testkit.Eventually(t, ctx, "room "+room+" live", func() bool {
		resp, err := http.Get(url + "/api/rooms/" + room)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"live":true`)
	})
}

// clientFrom is an HTTP client whose connections come from the loopback address ip
// (127.0.0.0/8 is all loopback), so that a test can be many clients.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}}
}

// joinAndWatch plays room as a viewer whose HTTP comes from ip and returns how long it took
// from the offer to its first video packet.
func joinAndWatch(ctx context.Context, url, room, ip string) (time.Duration, error) {
	rec := testnode.NewReceived()
	hc := clientFrom(ip)
	defer hc.CloseIdleConnections()
	start := time.Now()
	sess, err := client.Play(ctx, url+"/whep/"+room, client.Options{LoopbackOnly: true, HTTPClient: hc, OnTrack: testnode.RecordTrack(rec)})
	if err != nil {
		return 0, fmt.Errorf("viewer from %s: %w", ip, err)
	}
	defer func() { _ = sess.Close(context.Background()) }()
	for rec.Count("video") == 0 {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("viewer from %s: no video: %w", ip, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return time.Since(start), nil
}

// TestSlowlorisDoesNotStopPublisherOrViewers: 300 connections that trickle their headers
// one byte at a time hold no handler and do not stop a publisher or a viewer joining and
// getting frames; each is closed by the server once the header timeout is past.
func TestSlowlorisDoesNotStopPublisherOrViewers(t *testing.T) {
	const slow = 300
	ctx := testkit.Context(t, 60*time.Second)
	url := startServe(t, "--http-read-header-timeout", "3s")
	host := strings.TrimPrefix(url, "http://")
	closedByServer := make(chan time.Duration, slow)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range slow {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
		t.Cleanup(func() { conn.Close() })
		wg.Go(func() { closedByServer <- trickleHeaders(ctx, conn) })
	}
	livePublisher(t, ctx, url, "slow")
	took, err := joinAndWatch(ctx, url, "slow", "127.0.0.5")
	if err != nil {
		t.Fatalf("viewer during the slowloris: %v", err)
	}
	t.Logf("viewer joined in %v with %d slow connections open", took, slow)
	for i := range slow {
		select {
		case d := <-closedByServer:
			if d < 0 {
				t.Fatalf("slow connection %d: still open after 20 s of trickling", i)
			}
		case <-ctx.Done():
			t.Fatalf("only %d of %d slow connections ended", i, slow)
		}
	}
}

// trickleHeaders sends a request line and then header bytes one every 200 ms until the
// server closes the connection; it returns how long that took (-1: not within 20 s).
func trickleHeaders(ctx context.Context, conn net.Conn) time.Duration {
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /api/rooms HTTP/1.1\r\nHost: x\r\n"); err != nil {
		return time.Since(start)
	}
	buf := make([]byte, 512)
	for time.Since(start) < 20*time.Second && ctx.Err() == nil {
		if _, err := io.WriteString(conn, "X"); err != nil {
			return time.Since(start)
		}
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := conn.Read(buf); err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				return time.Since(start) // closed (or answered 408 and closed)
			}
		}
	}
	return -1
}

// floodResult is what a signaling flood did, and what legitimate viewers saw meanwhile.
type floodResult struct {
	sent, refused int64
	joins         []time.Duration
}

// signalingFlood sends WHEP offers for room from 127.0.0.2 (32 at a time), at least
// requests of them and on until the last of viewers legitimate viewers, each from its own
// address (127.0.0.10...), joining one after another, has measured its join time.
func signalingFlood(t testing.TB, ctx context.Context, url, room string, requests, viewers int) floodResult {
	t.Helper()
	offer := testkit.PionOffer(t, webrtc.RTPTransceiverDirectionRecvonly, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
	flooder := clientFrom("127.0.0.2")
	defer flooder.CloseIdleConnections()
	var res floodResult
	var next atomic.Int64
	var viewersDone atomic.Bool
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for (next.Add(1) <= int64(requests) || !viewersDone.Load()) && ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/whep/"+room, strings.NewReader(offer))
				req.Header.Set("Content-Type", "application/sdp")
				resp, err := flooder.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				atomic.AddInt64(&res.sent, 1)
				if resp.StatusCode == http.StatusTooManyRequests {
					atomic.AddInt64(&res.refused, 1)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // the flood is on
	for i := range viewers {
		took, err := joinAndWatch(ctx, url, room, fmt.Sprintf("127.0.0.%d", 10+i))
		if err != nil {
			t.Errorf("legitimate viewer %d: %v", i, err)
			continue
		}
		res.joins = append(res.joins, took)
	}
	viewersDone.Store(true)
	wg.Wait()
	return res
}

// TestSignalingFloodFromOneAddress: 2,000 or more WHEP offers from one address, with the default
// limits, are mostly refused with 429, and viewers from other addresses still join and get
// video meanwhile (within a generous 10 s each: the race detector and a loaded machine slow
// the flood's admitted offers; the numbers are logged, BenchmarkSignalingFlood measures).
func TestSignalingFloodFromOneAddress(t *testing.T) {
	ctx := testkit.Context(t, 120*time.Second)
	url := startServe(t)
	livePublisher(t, ctx, url, "flood")
	res := signalingFlood(t, ctx, url, "flood", 2000, 5)
	if res.refused < res.sent/2 {
		t.Errorf("the flood had %d of %d requests refused; the per-IP rate limit should refuse most", res.refused, res.sent)
	}
	for i, d := range res.joins {
		if d > 10*time.Second {
			t.Errorf("legitimate viewer %d joined in %v during the flood, want under 10 s", i, d)
		}
	}
	t.Logf("flood: %d requests, %d refused (429); legitimate joins: %v", res.sent, res.refused, res.joins)
}

// BenchmarkSignalingFlood measures legitimate viewers' join time (offer → first video
// packet) during a 2,000-request WHEP flood from one address, with the default limits and
// with every limit off, in the same run:
//
//	unshare -n sh -c 'ip link set lo up && go test -run ^$ -bench SignalingFlood -benchtime 1x ./cmd/glint'
func BenchmarkSignalingFlood(b *testing.B) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"limits", nil},
		{"nolimits", []string{"--limit-rate-per-ip=0", "--limit-sessions-per-ip=0"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var joins []float64
			var sent, refused int64
			start := time.Now()
			for range b.N {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				url := startServe(b, tc.args...)
				livePublisher(b, ctx, url, "flood")
				res := signalingFlood(b, ctx, url, "flood", 2000, 20)
				cancel()
				sent, refused = sent+res.sent, refused+res.refused
				for _, d := range res.joins {
					joins = append(joins, float64(d.Milliseconds()))
				}
			}
			slices.Sort(joins)
			b.ReportMetric(stats.Quantile(joins, 0.5), "join-p50-ms")
			b.ReportMetric(stats.Quantile(joins, 0.95), "join-p95-ms")
			b.ReportMetric(float64(refused)/float64(max(sent, 1)), "refused-ratio")
			b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "flood-req/s")
		})
	}
}
