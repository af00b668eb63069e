#!/usr/bin/env bash
# LL-HLS on demand (issue 12): the server's CPU for a live 720p30 room that nobody watches
# over HLS (one WebRTC viewer), with the ladder always re-encoding and with --hls-mode
# on-demand; then how long the first HLS request of a parked room waits for the woken
# renditions.
set -euo pipefail
measure=${BENCH_ONDEMAND_DURATION:-20s}
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'stop_glint; rm -rf "$tmp"' EXIT

# idle MODE: one loadtest run against a server in that mode; prints "server X%".
idle() {
  start_glint "" "$tmp/server-$1.log" --hls-mode "$1"
  echo "bench ondemand: $1: $cmd" >&2
  "$GLINT_BIN" loadtest --url http://127.0.0.1:$port --room idle --publisher loop --size 1280x720 --viewers 1 \
    --warmup 6s --duration "$measure" --server-pid "$server" --json "$tmp/$1.json" >&2 2>"$tmp/lt-$1.log" ||
    { cat "$tmp/lt-$1.log" "$tmp/server-$1.log" >&2; return 1; }
  stop_glint
  jq -r '.steps[-1].server_cpu_percent | round' "$tmp/$1.json"
}

cmd="glint serve --hls-mode MODE & glint loadtest --url http://127.0.0.1:$port --room idle --publisher loop --size 1280x720 --viewers 1 --warmup 6s --duration $measure --server-pid \$SERVER"
always=$(idle always)
ondemand=$(idle on-demand)

# Wake: a parked room's first multivariant request, timed by curl, three times (the room
# parks again after --hls-idle 5s without requests).
start_glint "" "$tmp/server-wake.log" --hls-mode on-demand --hls-idle 5s
"$GLINT_BIN" loadtest --url http://127.0.0.1:$port --room wake --publisher loop --size 1280x720 --viewers 1 \
  --warmup 2s --duration 40s --server-pid "$server" >/dev/null 2>"$tmp/lt-wake.log" &
lt=$!
waits=""
for i in 1 2 3; do
  sleep 12
  t=$(curl -s -o "$tmp/mv-$i.m3u8" -w '%{time_total}' http://127.0.0.1:$port/hls/wake/index.m3u8)
  n=$(grep -c '^#EXT-X-STREAM-INF' "$tmp/mv-$i.m3u8" || true)
  waits+="${waits:+, }$(awk -v t="$t" 'BEGIN { printf "%d ms", t * 1000 }') ($n renditions)"
done
wait "$lt" || true
stop_glint

cat <<MD
## LL-HLS on demand: the cost of rooms nobody watches over HLS (issue 12)

\`$cmd\`, the default ladder (720p source passed through + 480p + 360p re-encoded, libx264):

| --hls-mode | server CPU, % of one core (1 publisher, 1 WebRTC viewer, no HLS viewer) |
|---|---|
| always | $always % |
| on-demand | $ondemand % |

First request of a parked on-demand room (\`curl http://127.0.0.1:$port/hls/wake/index.m3u8\`, 12 s
apart, --hls-idle 5s: each one wakes the room again): $waits. The request waits until the woken
renditions have a segment, encoded from the previous segment's start faster than real time.
MD
