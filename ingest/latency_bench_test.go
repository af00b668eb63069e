package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/stats"
	"github.com/glint-video/glint/media"
)

// BenchmarkIngestLatency measures ingest → WebRTC viewer latency and the server's CPU per
// ingested stream for RTMP and SRT, passthrough (a source without B-frames) and re-encode
// (with B-frames). A pre-encoded 720p30 2.5 Mbit/s H.264 + AAC stream is pushed in real time
// by this process (gortmplib / gosrt), each access unit stamped with its send time in a
// capture-time SEI; one pion WHEP viewer receives it.
//
//   - flash latency: the source is white for one picture a second; the viewer decodes what
//     it got (libav) and the latency is the arrival of the flash picture's last packet minus
//     the time its access unit was sent. It measures both paths the same way (the
//     re-encoder does not carry SEI).
//   - SEI latency (passthrough only): arrival of each access unit minus the capture time in
//     its SEI, every picture.
//   - server CPU: with GLINT_BENCH_PID set (scripts/bench/60-ingest.sh), the server's
//     user+system time over the 20 s window from /proc/PID/stat, 100% = one core.
//
// GLINT_BENCH_HTTP, GLINT_BENCH_RTMP (rtmp://host:port) and GLINT_BENCH_SRT (host:port)
// point it at a running `glint serve`; without them it runs an in-process SFU and ingest
// server (then without CPU figures). Run it with -benchtime=1x: each case is one 20 s window.
func BenchmarkIngestLatency(b *testing.B) {
	target := benchTargetFor(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sources := map[bool]*benchSource{}
	for _, bframes := range []bool{false, true} {
		src, err := makeBenchSource(ctx, 34, bframes)
		if err != nil {
			b.Fatal(err)
		}
		sources[bframes] = src
	}
	if target.pid != "" {
		b.Run("idle", func(b *testing.B) {
			cpu, err := cpuOver(target.pid, benchWindow)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(cpu, "server-cpu-%")
		})
	}
	for i, tc := range []struct {
		name    string
		srt     bool
		bframes bool
	}{
		{"rtmp-passthrough", false, false},
		{"rtmp-reencode", false, true},
		{"srt-passthrough", true, false},
		{"srt-reencode", true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			room := fmt.Sprintf("latency%d", i)
			src := sources[tc.bframes]
			var write unitWriter
			var closeConn func()
			var err error
			if tc.srt {
				write, closeConn, err = src.srtWriter(target.srt, room)
			} else {
				write, closeConn, err = src.rtmpWriter(ctx, target.rtmp+"/live/"+room)
			}
			if err != nil {
				b.Fatal(err)
			}
			runLatency(b, ctx, target, room, src, write, closeConn)
		})
	}
}

const (
	benchWarmup = 3 * time.Second
	benchWindow = 20 * time.Second
)

type benchTarget struct{ http, rtmp, srt, pid string }

func benchTargetFor(b *testing.B) benchTarget {
	t := benchTarget{http: os.Getenv("GLINT_BENCH_HTTP"), rtmp: os.Getenv("GLINT_BENCH_RTMP"),
		srt: os.Getenv("GLINT_BENCH_SRT"), pid: os.Getenv("GLINT_BENCH_PID")}
	if t.http != "" && t.rtmp != "" && t.srt != "" {
		return t
	}
	e := newEnv(b, func(c *Config) { c.IdleTimeout, c.KeyframeTimeout = 10*time.Second, 10*time.Second })
	return benchTarget{http: e.URL, rtmp: e.rtmp, srt: fmt.Sprintf("127.0.0.1:%d", e.srtPort)}
}

// runLatency pushes the source into room, watches it, and reports the window's figures.
func runLatency(b *testing.B, ctx context.Context, target benchTarget, room string, src *benchSource,
	write unitWriter, closeConn func()) {
	flashes := &flashLog{}
	pushCtx, stopPush := context.WithCancel(ctx)
	var pushing sync.WaitGroup
	var pushErr error
	pushing.Go(func() { pushErr = src.push(pushCtx, write, flashes) })
	stop := sync.OnceFunc(func() { stopPush(); pushing.Wait(); closeConn() })
	defer stop()

	v, err := watchWhenLive(ctx, target.http+"/whep/"+room)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = v.sess.Close(context.Background()) }()
	time.Sleep(benchWarmup)
	from := time.Now()
	cpu, err := cpuOver(target.pid, benchWindow)
	if err != nil {
		b.Fatal(err)
	}
	to := time.Now()
	stop()
	if pushErr != nil {
		b.Fatalf("push: %v", pushErr)
	}
	_ = v.sess.Close(ctx)

	aus := v.accessUnits()
	var sei []time.Duration
	for _, au := range aus {
		if at, ok := media.FindCaptureTimeAnnexB(au.annexB); ok && au.arrival.After(from) && au.arrival.Before(to) {
			sei = append(sei, au.arrival.Sub(at))
		}
	}
	flashLat, pictures, err := flashLatencies(aus, flashes.times(), from, to)
	if err != nil {
		b.Fatal(err)
	}
	if len(flashLat) < 10 {
		b.Fatalf("%d flashes seen in the %s window (%d pictures decoded), want about 20", len(flashLat), benchWindow, pictures)
	}
	p := func(d []time.Duration, q int) float64 {
		slices.Sort(d)
		return float64(stats.Quantile(d, float64(q)/100)) / float64(time.Millisecond)
	}
	b.ReportMetric(p(flashLat, 50), "flash-p50-ms")
	b.ReportMetric(p(flashLat, 100), "flash-max-ms")
	b.ReportMetric(float64(len(flashLat)), "flashes")
	if len(sei) > 0 {
		b.ReportMetric(p(sei, 50), "sei-p50-ms")
		b.ReportMetric(p(sei, 95), "sei-p95-ms")
	}
	if target.pid != "" {
		b.ReportMetric(cpu, "server-cpu-%")
	}
}

// cpuOver waits d and returns the CPU of process pid over it, % of one core; with
// no pid it only waits.
func cpuOver(pid string, d time.Duration) (float64, error) {
	if pid == "" {
		time.Sleep(d)
		return 0, nil
	}
	before, err := procCPU(pid)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	time.Sleep(d)
	after, err := procCPU(pid)
	if err != nil {
		return 0, err
	}
	return 100 * float64(after-before) / float64(time.Since(start)), nil
}

// latencyViewer is a WHEP viewer that keeps every video packet with its arrival time.
type latencyViewer struct {
	sess *client.Session
	mu   sync.Mutex
	pkts []*rtp.Packet
	at   map[*rtp.Packet]time.Time
}

// watchWhenLive plays url once the room has a publisher (WHEP answers 404 before).
func watchWhenLive(ctx context.Context, url string) (*latencyViewer, error) {
	v := &latencyViewer{at: map[*rtp.Packet]time.Time{}}
	opts := client.Options{LoopbackOnly: true, OnTrack: func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		video := track.Kind() == webrtc.RTPCodecTypeVideo
		for {
			pkt, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			if video {
				now := time.Now()
				v.mu.Lock()
				v.pkts = append(v.pkts, pkt)
				v.at[pkt] = now
				v.mu.Unlock()
			}
		}
	}}
	for {
		sess, err := client.Play(ctx, url, opts)
		var he *client.HTTPError
		switch {
		case err == nil:
			v.sess = sess
			if err := sess.Connected(ctx); err != nil {
				return nil, fmt.Errorf("viewer: %w", err)
			}
			return v, nil
		case errors.As(err, &he) && he.Status == 404:
		default:
			return nil, fmt.Errorf("play: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("room never went live: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// receivedAU is one access unit a viewer got: Annex-B, RTP timestamp, and when its last
// packet (a repair included) arrived.
type receivedAU struct {
	ts      uint32
	annexB  []byte
	arrival time.Time
}

func (v *latencyViewer) accessUnits() []receivedAU {
	v.mu.Lock()
	pkts, at := append([]*rtp.Packet(nil), v.pkts...), v.at
	v.mu.Unlock()
	var out []receivedAU
	depack := &codecs.H264Packet{}
	for _, p := range inSeqOrder(pkts) {
		if len(out) == 0 || out[len(out)-1].ts != p.Timestamp {
			out = append(out, receivedAU{ts: p.Timestamp})
		}
		au := &out[len(out)-1]
		if b, err := depack.Unmarshal(p.Payload); err == nil {
			au.annexB = append(au.annexB, b...)
		}
		v.mu.Lock()
		if a := at[p]; a.After(au.arrival) {
			au.arrival = a
		}
		v.mu.Unlock()
	}
	return out
}

// flashLatencies decodes the access units, finds the flash pictures that arrived between
// from and to, and pairs each with the last flash sent before it arrived.
func flashLatencies(aus []receivedAU, sent []time.Time, from, to time.Time) ([]time.Duration, int, error) {
	arrival := map[int64]time.Time{}
	decoded := make([]ptsAU, len(aus))
	for i, au := range aus {
		pts := int64(int32(au.ts - aus[0].ts))
		arrival[pts] = au.arrival
		decoded[i] = ptsAU{annexB: au.annexB, pts: pts}
	}
	var flashAt []time.Time
	pictures, err := decodeFlashes(decoded, 200, func(pts int64) { flashAt = append(flashAt, arrival[pts]) })
	if err != nil {
		return nil, pictures, err
	}
	var out []time.Duration
	for _, a := range flashAt {
		if a.Before(from) || a.After(to) {
			continue
		}
		i := len(sent) - 1
		for i >= 0 && sent[i].After(a) {
			i--
		}
		if i >= 0 {
			out = append(out, a.Sub(sent[i]))
		}
	}
	return out, pictures, nil
}
