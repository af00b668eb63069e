#!/usr/bin/env bash
# LL-HLS latency (issues 5 and 7): `glint serve` with its HLS ladder on loopback, and
# `glint loadtest` with one SEI-stamped loop publisher and LL-HLS viewers only
# (loadtest/llhls), once on the passthrough and once on a re-encoded rendition, for 333 ms
# parts (the default before the glass-to-glass work) and 200 ms parts (the default now).
set -euo pipefail
viewers=${BENCH_HLS_VIEWERS:-3}
measure=${BENCH_HLS_DURATION:-20s}
size=${BENCH_HLS_SIZE:-1280x720}
renditions=${BENCH_HLS_RENDITIONS:-source 360p}
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'stop_glint; rm -rf "$tmp"' EXIT

# loadtest PART RENDITION: one `glint loadtest` run on that rendition; its report in
# $tmp/PART-RENDITION.json.
loadtest() {
  "$GLINT_BIN" loadtest --url http://127.0.0.1:$port --room "llhls-$2" --publisher loop --size "$size" \
    --viewers 0 --hls-viewers "$viewers" --hls-rendition "$2" --warmup 6s --duration "$measure" \
    --server-pid "$server" --json "$tmp/$1-$2.json" >&2 2>"$tmp/bench-$1-$2.log"
}

# row PART RENDITION: the markdown table row of that run.
row() {
  jq -r --arg r "$2" --argjson n "$viewers" '.steps[-1].llhls // {} |
    def ms: "\(. // 0 | round) ms";
    "| \($r) | \($n) | \(.part_latency_p50_ms | ms) / \(.part_latency_p95_ms | ms) | \(.latency_p50_ms | ms) / \(.latency_p95_ms | ms) | \(.parts_measured // 0) / \(.latency_samples // 0) | \(.join_p50_ms | ms) / \(.join_p95_ms | ms) |"' \
    "$tmp/$1-$2.json"
}

# cpu PART RENDITION: "RENDITION: load generator X%, server Y%" of that run.
cpu() {
  jq -r --arg r "$2" '.steps[-1] | "\($r): load generator \(.loadgen_cpu_percent * 10 | round / 10)%, server \(.server_cpu_percent | round)%"' "$tmp/$1-$2.json"
}

# run PART [serve flags...]: one server with that part duration (and flags), each rendition
# measured; prints the table.
run() {
  start_glint "" "$tmp/server-$1.log" --hls-part "$1" "${@:2}"
  local r rows="" cpus=""
  for r in $renditions; do
    echo "bench llhls: parts of $1, rendition $r: $bench_cmd --hls-rendition $r" >&2
    loadtest "$1" "$r" || { cat "$tmp/bench-$1-$r.log" "$tmp/server-$1.log" >&2; stop_glint; return 1; }
    rows+="$(row "$1" "$r")"$'\n'
    cpus+="${cpus:+; }$(cpu "$1" "$r")"
  done
  stop_glint
  echo "| rendition | viewers | capture → part available p50 / p95 | capture → frame downloaded p50 / p95 | parts / frames measured | join p50 / p95 |"
  echo "|---|---|---|---|---|---|"
  printf '%s' "$rows"
  echo
  echo "CPU while measuring, % of one core ($viewers viewers and the publisher): $cpus."
  local dropped
  dropped=$(grep -c "rung dropped" "$tmp/server-$1.log" || true)
  [ "$dropped" -gt 0 ] && { echo; echo "The transcoder dropped $dropped rung(s) (behind real time):"; echo '```';
    grep "rung dropped" "$tmp/server-$1.log" | cut -c1-200; echo '```'; }
  return 0
}

bench_cmd="glint loadtest --url http://127.0.0.1:$port --room llhls-RENDITION --publisher loop --size $size --viewers 0 --hls-viewers $viewers --warmup 6s --duration $measure --server-pid \$SERVER"
r333=$(run 333ms)
r200=$(run 200ms)
# The DVR (on by default) records every segment off the media path: the same measurement
# with it off, to compare part latency at the live edge with the DVR on and off.
roff=$(renditions=source run 333ms --dvr=false)
cat <<MD
## LL-HLS latency: capture → part available, capture → frame downloaded (issues 5 and 7)

\`$bench_cmd --hls-rendition source\` (then \`--hls-rendition 360p\`)
against \`glint serve --hls-part 333ms\` (then \`--hls-part 200ms\`) in a loopback-only namespace, 2 s segments, not pinned
(the transcoder ladder needs both cores).

One WHIP loop publisher sends 2 s of ${size} 30 fps H.264 (libx264, 2.5 Mbit/s, a keyframe every 2 s, constrained
baseline), looped, + Opus, every access unit carrying a capture-time SEI stamped when it is handed to WebRTC. The
server passes the H.264 through as \`source\` and re-encodes 480p and 360p (libx264) + AAC. $viewers LL-HLS viewers
(package \`loadtest/llhls\`: blocking playlist reloads, EXT-X-PRELOAD-HINT part requests, fMP4 parsed with mp4ff)
on one rendition per run read the capture time of each frame from its SEI (\`source\`) or from
EXT-X-PROGRAM-DATE-TIME, which the HLS bridge aligns to the SEI capture time (\`360p\`, where the SEI is gone).
*capture → part available*: capture of a part's last frame → the part's preload-hinted request completes
(the origin answers it the moment the part is published); *capture → frame downloaded*: each frame's capture →
its part downloaded (adds the wait for the rest of the part). Both are \`glint loadtest\` histogram quantiles
(buckets about 9% wide). The first 6 s after the viewers start (joins, catch-up) are not counted. Issue 5's
target: capture → part available p95 < 1 s with 333 ms parts. The server records every room (the DVR, on
by default, into a temporary data dir) in the first two tables; the third is the same 333 ms run on
\`source\` with \`--dvr=false\` (issue 13: part latency at the live edge with the DVR on vs off).

Parts of 333 ms:

$r333

Parts of 200 ms:

$r200

Parts of 333 ms, DVR off (\`--dvr=false\`):

$roff
MD
