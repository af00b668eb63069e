#!/usr/bin/env bash
# SFU fan-out curve (issues 3 and 7): `glint loadtest` against `glint serve` on loopback,
# server pinned to core 0 and load generator to core 1 so that each has its own core.
set -euo pipefail
viewers=${BENCH_VIEWERS:-1,50,100,200,300,500}
step=${BENCH_STEP:-10s}
port=18080; udp=18189
log=$(mktemp)
taskset -c 0 "$GLINT_BIN" serve --http-addr 127.0.0.1:$port --udp-port $udp --ice-ip 127.0.0.1 \
  --ice-tcp=false --hls=false --rtmp-addr= --srt-addr= --log-level warn 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do curl -fs http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
cmd="taskset -c 1 glint loadtest --url http://127.0.0.1:$port --viewers $viewers --step $step"
echo "bench fanout: $cmd" >&2
table=$(taskset -c 1 "$GLINT_BIN" loadtest --url http://127.0.0.1:$port --viewers "$viewers" --step "$step")
cat <<MD
## SFU fan-out: transit latency, CPU and memory per viewer (issues 3 and 7)

\`$cmd\` (server: \`taskset -c 0 glint serve --hls=false ...\` in a loopback-only namespace)

One synthetic 720p30 H.264 publisher at 2.5 Mbit/s (answers PLI), N pion WHEP viewers.
SFU transit = packet read from the publisher's track → written to each viewer
(\`glint_transit_seconds\`). Issue 3's target: transit p99 < 5 ms at 300 viewers.

\`\`\`
$table
\`\`\`
MD
