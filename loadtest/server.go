package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/glint-video/glint/internal/stats"
)

// Metric names read from the server's /metrics (Prometheus text format).
const (
	metricTransit    = "glint_transit_seconds"
	metricUnpaced    = "glint_transit_unpaced_seconds" // transit less the viewer pacer's hold
	metricCPU        = "process_cpu_seconds_total"
	metricRSS        = "process_resident_memory_bytes"
	metricPackets    = "glint_rtp_packets_total"
	metricViewers    = "glint_subscribers"
	metricSkips      = "glint_viewer_skips_total"
	metricRetransmit = "glint_retransmits_total"
	metricHLSRequest = "glint_hls_requests_total"
	metricRelays     = "glint_relays"
	transitBucketKey = metricTransit + "_bucket"
	unpacedBucketKey = metricUnpaced + "_bucket"
)

// bucket is one cumulative histogram bucket: count of samples <= le seconds.
type bucket struct {
	le    float64
	count float64
}

// serverSample is what one scrape of /metrics (and /proc, with a server PID) says. Only
// the process metrics are standard; the glint_* ones are there when the server is Glint.
type serverSample struct {
	haveProcess bool // cpuSeconds and rssBytes are known
	haveViewers bool // a glint_subscribers gauge was there
	cpuSeconds  float64
	rssBytes    float64
	packetsOut  float64
	viewers     float64
	skips       float64
	retransmit  float64
	hlsRequests float64  // LL-HLS requests served, all rooms and kinds
	relaysIn    float64  // rooms this node relays from others (a gauge)
	relaysOut   float64  // other nodes' relays of this node's rooms (a gauge)
	transit     []bucket // sorted by le, +Inf last
	unpaced     []bucket // glint_transit_unpaced_seconds, likewise
}

// scrapeServer GETs metricsURL and parses the metrics the load test needs.
func scrapeServer(ctx context.Context, httpClient *http.Client, metricsURL string) (serverSample, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return serverSample{}, fmt.Errorf("metrics: %w", err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return serverSample{}, fmt.Errorf("metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return serverSample{}, fmt.Errorf("metrics: GET %s: server answered %d", metricsURL, resp.StatusCode)
	}
	s, err := parseMetrics(resp.Body)
	if err != nil {
		return serverSample{}, fmt.Errorf("metrics: %s: %w", metricsURL, err)
	}
	return s, nil
}

// parseMetrics reads the Prometheus text exposition format, keeping only what the load
// test uses; a missing metric is simply not there (see haveProcess, haveViewers, transit).
func parseMetrics(r io.Reader) (serverSample, error) {
	var s serverSample
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, err := splitSample(line)
		if err != nil {
			return s, err
		}
		switch name {
		case metricCPU:
			s.cpuSeconds = value
		case metricRSS:
			s.rssBytes = value
		case metricViewers:
			s.viewers = value
		case metricSkips:
			s.skips = value
		case metricRetransmit:
			s.retransmit = value
		case metricHLSRequest:
			s.hlsRequests += value
		case metricRelays:
			switch labelValue(labels, "direction") {
			case "in":
				s.relaysIn = value
			case "out":
				s.relaysOut = value
			}
		case metricPackets:
			if labelValue(labels, "direction") != "out" {
				continue
			}
			s.packetsOut = value
		case transitBucketKey, unpacedBucketKey:
			le, err := strconv.ParseFloat(labelValue(labels, "le"), 64)
			if err != nil {
				return s, fmt.Errorf("%s: bad le label in %q", name, line)
			}
			if name == transitBucketKey {
				s.transit = append(s.transit, bucket{le: le, count: value})
			} else {
				s.unpaced = append(s.unpaced, bucket{le: le, count: value})
			}
		default:
			continue
		}
		seen[name] = true
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("read: %w", err)
	}
	s.haveProcess = seen[metricCPU] && seen[metricRSS]
	s.haveViewers = seen[metricViewers]
	sort.Slice(s.transit, func(i, j int) bool { return s.transit[i].le < s.transit[j].le })
	sort.Slice(s.unpaced, func(i, j int) bool { return s.unpaced[i].le < s.unpaced[j].le })
	return s, nil
}

// splitSample splits `name{labels} value` (labels optional; a trailing timestamp is ignored).
func splitSample(line string) (name, labels string, value float64, err error) {
	rest := line
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", "", 0, fmt.Errorf("malformed line %q", line)
		}
		name, labels, rest = line[:i], line[i+1:j], strings.TrimSpace(line[j+1:])
	} else {
		var ok bool
		name, rest, ok = strings.Cut(line, " ")
		if !ok {
			return "", "", 0, fmt.Errorf("malformed line %q", line)
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", "", 0, fmt.Errorf("malformed line %q", line)
	}
	value, err = strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", "", 0, fmt.Errorf("malformed value in %q", line)
	}
	return name, labels, value, nil
}

// labelValue returns the value of label key in `a="x",b="y"` ("" when absent). Glint's
// label values contain no quotes or commas.
func labelValue(labels, key string) string {
	for _, kv := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && k == key {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// serverProbe samples the server's CPU and memory from its /metrics, from /proc/PID, or
// both (the PID wins for CPU and memory).
type serverProbe struct {
	http       *http.Client
	metricsURL string // "" = none
	required   bool   // the URL was given explicitly: a failed scrape is an error
	pid        int    // 0 = none
}

// sample reads the server once; without metrics or PID it returns an empty sample.
func (p *serverProbe) sample(ctx context.Context) (serverSample, error) {
	var s serverSample
	if p.metricsURL != "" {
		m, err := scrapeServer(ctx, p.http, p.metricsURL)
		switch {
		case err == nil:
			s = m
		case p.required:
			return s, err
		}
	}
	if p.pid > 0 {
		cpu, rss, err := processStat(p.pid)
		if err != nil {
			return s, err
		}
		s.cpuSeconds, s.rssBytes, s.haveProcess = cpu.Seconds(), float64(rss), true
	}
	return s, nil
}

// bucketDelta is the histogram name's samples between two scrapes' cumulative buckets:
// per-bucket counts (not cumulative), in the order of end.
func bucketDelta(name string, start, end []bucket) ([]bucket, error) {
	if len(start) != len(end) {
		return nil, fmt.Errorf("%s buckets changed between scrapes", name)
	}
	out := make([]bucket, len(end))
	var prev float64
	for i, b := range end {
		if start[i].le != b.le {
			return nil, fmt.Errorf("%s buckets changed between scrapes", name)
		}
		cum := b.count - start[i].count
		out[i] = bucket{le: b.le, count: cum - prev}
		prev = cum
	}
	return out, nil
}

// bucketQuantile estimates the q-quantile from per-bucket counts the way Prometheus'
// histogram_quantile does: linear inside the bucket, the highest finite bound for +Inf
// (then the true quantile is higher; see overflowShare).
func bucketQuantile(buckets []bucket, q float64) time.Duration {
	return seconds(stats.BucketQuantile(len(buckets), func(i int) (lo, hi, count float64) {
		if i > 0 {
			lo = buckets[i-1].le
		}
		return lo, buckets[i].le, buckets[i].count
	}, q))
}

// overflowShare is the fraction of samples above the highest finite bucket bound.
func overflowShare(buckets []bucket) float64 {
	total := bucketTotal(buckets)
	if total == 0 || len(buckets) == 0 || !math.IsInf(buckets[len(buckets)-1].le, 1) {
		return 0
	}
	return buckets[len(buckets)-1].count / float64(total)
}

func bucketTotal(buckets []bucket) uint64 {
	var total float64
	for _, b := range buckets {
		total += b.count
	}
	return uint64(total)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// roomLive reports whether GET roomURL (/api/rooms/{room}) shows a live room with at
// least a video and an audio track; an unknown room (404) is not live yet.
func roomLive(ctx context.Context, httpClient *http.Client, roomURL, token string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, roomURL, nil)
	if err != nil {
		return false, fmt.Errorf("room state: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("room state: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("room state: GET %s: server answered %d", roomURL, resp.StatusCode)
	}
	var room struct {
		Live   bool `json:"live"`
		Tracks []struct {
			Kind string `json:"kind"`
		} `json:"tracks"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&room); err != nil {
		return false, fmt.Errorf("room state: %s: %w", roomURL, err)
	}
	kinds := map[string]bool{}
	for _, t := range room.Tracks {
		kinds[t.Kind] = true
	}
	return room.Live && kinds["video"] && kinds["audio"], nil
}
