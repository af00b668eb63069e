#!/usr/bin/env bash
# LL-HLS latency (issues 5 and 7): `glint serve` with its HLS ladder on loopback, one
# SEI-stamped WHIP publisher and LL-HLS viewers (loadtest/llhls) on the passthrough and a
# re-encoded rendition, for 333 ms parts (the default) and 200 ms parts.
set -euo pipefail
viewers=${BENCH_HLS_VIEWERS:-3}
measure=${BENCH_HLS_DURATION:-20s}
size=${BENCH_HLS_SIZE:-1280x720}
port=18080; udp=18189
tmp=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
go build -o "$tmp/llhlsbench" ./loadtest/llhls/cmd/llhlsbench
# run PART: one server with that part duration, measured; prints the table.
run() {
  "$GLINT_BIN" serve --http-addr 127.0.0.1:$port --udp-port $udp --ice-ip 127.0.0.1 --ice-tcp=false \
    --rtmp-addr= --srt-addr= --hls-part "$1" --log-level warn 2>"$tmp/server-$1.log" &
  server=$!
  for _ in $(seq 50); do curl -fs http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
  echo "bench llhls: parts of $1: $bench_cmd" >&2
  local out
  out=$("$tmp/llhlsbench" --url http://127.0.0.1:$port --size "$size" --viewers "$viewers" --duration "$measure" \
    --renditions source,360p --server-pid "$server" 2>"$tmp/bench-$1.log") ||
    { cat "$tmp/bench-$1.log" "$tmp/server-$1.log" >&2; kill "$server"; wait "$server" 2>/dev/null; return 1; }
  kill "$server"; wait "$server" 2>/dev/null || true; server=
  echo "$out"
  local dropped
  dropped=$(grep -c "rung dropped" "$tmp/server-$1.log" || true)
  [ "$dropped" -gt 0 ] && { echo; echo "The transcoder dropped $dropped rung(s) (behind real time):"; echo '```';
    grep "rung dropped" "$tmp/server-$1.log" | cut -c1-200; echo '```'; }
  return 0
}

bench_cmd="llhlsbench --url http://127.0.0.1:$port --size $size --viewers $viewers --duration $measure --renditions source,360p"
r333=$(run 333ms)
r200=$(run 200ms)
cat <<MD
## LL-HLS latency: capture → part available, capture → frame downloaded (issues 5 and 7)

\`go run ./loadtest/llhls/cmd/llhlsbench --url http://127.0.0.1:$port --size $size --viewers $viewers --duration $measure --renditions source,360p\`
against \`glint serve --hls-part 333ms\` (then \`--hls-part 200ms\`) in a loopback-only namespace, 2 s segments, not pinned
(the transcoder ladder needs both cores).

One WHIP publisher sends a looped pre-encoded ${size} 30 fps H.264 clip (2.5 Mbit/s, a keyframe every 2 s, constrained
baseline) + Opus, every access unit carrying a capture-time SEI stamped when it is handed to WebRTC. The server
passes the H.264 through as \`source\` and re-encodes 480p and 360p (libx264) + AAC. $viewers LL-HLS viewers per
rendition (package \`loadtest/llhls\`: blocking playlist reloads, EXT-X-PRELOAD-HINT part requests, fMP4 parsed
with mp4ff) read the capture time of each frame from its SEI (\`source\`) or from EXT-X-PROGRAM-DATE-TIME, which
the HLS bridge aligns to the SEI capture time (\`360p\`, where the SEI is gone).
*capture → part available*: capture of a part's last frame → the part's preload-hinted request completes
(the origin answers it the moment the part is published); *capture → frame downloaded*: each frame's capture →
its part downloaded (adds the wait for the rest of the part). The first 6 s (joins, catch-up) are
not counted. Issue 5's target: capture → part available p95 < 1 s with 333 ms parts.

Parts of 333 ms:

$r333

Parts of 200 ms:

$r200
MD
