#!/usr/bin/env bash
# RTMP / SRT ingest (issue 6): ingest → WebRTC viewer latency and the server's CPU per
# ingested stream, passthrough (no B-frames) and re-encode (B-frames), against `glint serve`
# pinned to core 0; the publisher and viewer (BenchmarkIngestLatency in package ingest) run
# pinned to core 1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
rtmp=19350; srt=19000
tmp=$(mktemp -d)
echo "bench ingest: building the ingest test binary" >&2
go test -c -o "$tmp/ingest.test" ./ingest/
trap 'stop_glint; rm -rf "$tmp"' EXIT
start_glint 0 "$tmp/serve.log" --hls=false --rtmp-addr 127.0.0.1:$rtmp --srt-addr 127.0.0.1:$srt
cmd="taskset -c 1 ingest.test -test.run '^\$' -test.bench BenchmarkIngestLatency -test.benchtime 1x"
echo "bench ingest: $cmd" >&2
(cd ingest && GLINT_BENCH_HTTP=http://127.0.0.1:$port GLINT_BENCH_RTMP=rtmp://127.0.0.1:$rtmp \
  GLINT_BENCH_SRT=127.0.0.1:$srt GLINT_BENCH_PID=$server \
  taskset -c 1 "$tmp/ingest.test" -test.run '^$' -test.bench BenchmarkIngestLatency -test.benchtime 1x) >"$tmp/out" 2>&1 ||
  { cat "$tmp/out" >&2; tail -20 "$tmp/serve.log" >&2; exit 1; }
cat "$tmp/out" >&2
kill -0 $server || { echo "bench ingest: the server died" >&2; tail -20 "$tmp/serve.log" >&2; exit 1; }

# One row per case from the benchmark's metrics ("value unit" pairs after ns/op).
table=$(awk '
  /^BenchmarkIngestLatency\// {
    name = $1; sub(/^BenchmarkIngestLatency\//, "", name); sub(/-[0-9]+$/, "", name)
    delete m; for (i = 5; i < NF; i += 2) m[$(i+1)] = $i
    if (name == "idle") { idle = m["server-cpu-%"]; next } # the first case
    sei = ("sei-p50-ms" in m) ? sprintf("%.1f / %.1f ms", m["sei-p50-ms"], m["sei-p95-ms"]) : "— (re-encoder drops SEI)"
    printf "| %s | %.1f ms | %.1f ms | %d | %s | %.1f%% | %.1f%% |\n", name, m["flash-p50-ms"], m["flash-max-ms"],
      m["flashes"], sei, m["server-cpu-%"], m["server-cpu-%"] - idle
  }
  END { printf "| idle server | | | | | %.1f%% | |\n", idle }' "$tmp/out")

cat <<MD
## RTMP / SRT ingest: latency to a WebRTC viewer and CPU per stream (issue 6)

\`$cmd\` (package ingest; server: \`taskset -c 0 glint serve --hls=false --rtmp-addr … --srt-addr …\`,
both in a loopback-only namespace)

The benchmark pushes a pre-encoded stream in real time: 1280x720 30 fps H.264 at 2.5 Mbit/s
(2 s GOP; without B-frames, \`-tune zerolatency\`, for the passthrough rows; libx264 with 2
B-frames for the re-encode rows) plus 48 kHz AAC at 128 kbit/s (converted to Opus on both
paths), over RTMP (gortmplib client) or SRT (gosrt caller, its default 120 ms latency, MPEG-TS
from mediacommon), and one pion WHEP viewer watches the room. Measured over a 20 s window
after 3 s of warm-up:

- **flash**: the source picture is white once a second (mid-GOP); the viewer decodes what
  it got (libav) and latency = arrival of the flash picture's last RTP packet − the moment
  its access unit was written to the RTMP/SRT socket. The same method for both paths,
  since the re-encoder does not carry SEI. Encoding at the source and decoding/rendering at
  the viewer are not included (they are the encoder's and the player's).
- **SEI** (passthrough only): every access unit carries its send time in a capture-time SEI
  (\`media.AppendCaptureSEI\`), which ingest passes through; latency = arrival − that time.
- **server CPU**: \`glint serve\`'s user+system time from /proc/PID/stat over the window
  (100% = one core); "per stream" subtracts the idle server. It includes forwarding to the
  one viewer (about 1% of a core, see the fan-out section) and the AAC → Opus conversion.

| path | flash p50 | flash max | flashes | SEI p50 / p95 | server CPU | per stream (− idle) |
|---|---|---|---|---|---|---|
$table

SRT latency is dominated by SRT's own receive buffer (TSBPD: 120 ms by default in libsrt,
ffmpeg, OBS and gosrt; the caller's \`latency\` option lowers it); the remaining ~40 ms were
not broken down (gosrt sends and delivers on 10 ms ticks). This publisher's MPEG-TS (astits)
gives the length of every video PES under 64 KB, so ingest's demuxer completes an access
unit with its last TS packet; ffmpeg and OBS leave the video PES length at 0, and then the
demuxer completes an access unit only when the next one starts: one frame (33 ms) more.
Re-encoding adds the decoder's reordering delay (the B-frames: about 2 frames) and the
encoder's time per frame.
MD
