#!/usr/bin/env bash
# Cluster load (issue 14, "scale on paper, checked by measurement"): `glint loadtest` against
# three `glint serve` on one redis-server on loopback: one loop publisher on node A, bare
# WebRTC viewers spread over A, B and C in turn (B and C pull the room from A through
# relays), each node measured on its own (its /proc and /metrics), and the Redis commands
# the cluster sent meanwhile. Then the LL-HLS side of the plan: requests per second per
# core of one node serving LL-HLS viewers (source rendition only, no re-encoding).
# Nothing is pinned: three servers and the load generator share the machine's cores.
set -euo pipefail
viewers=${BENCH_VIEWERS:-150,300,600}
step=${BENCH_STEP:-10s}
hls_viewers=${BENCH_HLS_VIEWERS:-200}
size=${BENCH_SIZE:-1280x720}
bitrate=${BENCH_BITRATE:-2500}
batch=${BENCH_JOIN_BATCH:-10}
redis_port=${BENCH_REDIS_PORT:-16379}
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
children=()
stop_all() {
  for p in "${children[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${children[@]}"; do wait "$p" 2>/dev/null || true; done
  children=()
}
trap 'stop_all; stop_glint; rm -rf "$tmp"' EXIT
command -v redis-server >/dev/null || { echo "bench clusterload: redis-server is not installed (scripts/install-deps.sh)" >&2; exit 1; }

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
children+=($!)
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

urls=(); pids=()
ids=(node-a node-b node-c)
for i in 0 1 2; do
  id=${ids[$i]}
  hp=$((port + i)); up=$((udp + i))
  mkdir -p "$tmp/data-$id"
  "$GLINT_BIN" serve --http-addr 127.0.0.1:$hp --udp-port $up --ice-ip 127.0.0.1 --ice-tcp=false \
    --rtmp-addr= --srt-addr= --hls=false --data-dir "$tmp/data-$id" --log-level warn \
    --redis "redis://127.0.0.1:$redis_port/0" --node-id "$id" --cluster-secret bench-cluster-secret-0123 \
    --public-url "http://127.0.0.1:$hp" 2>"$tmp/$id.log" &
  children+=($!); pids+=($!); urls+=("http://127.0.0.1:$hp")
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$hp/healthz" >/dev/null && break; sleep 0.1; done
done
joined_urls=$(IFS=,; echo "${urls[*]}")
joined_pids=$(IFS=,; echo "${pids[*]}")
cmd="glint loadtest --url ${urls[0]} --viewer-urls $joined_urls --server-pid PID_A,PID_B,PID_C --room cluster --publisher loop --size $size --bitrate $bitrate --viewer bare --viewers $viewers --join-batch $batch --duration $step"
echo "bench clusterload: $cmd" >&2
redis_before=$(redis-cli -p "$redis_port" info stats | awk -F: '/^total_commands_processed/{print $2+0}')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s.%N)
"$GLINT_BIN" loadtest --url "${urls[0]}" --viewer-urls "$joined_urls" --server-pid "$joined_pids" --room cluster \
  --publisher loop --size "$size" --bitrate "$bitrate" --viewer bare --viewers "$viewers" --join-batch "$batch" \
  --duration "$step" --json "$tmp/cluster.json" >"$tmp/cluster.txt" \
  || echo "bench clusterload: loadtest exited $?; its report says where it stopped" >&2
t1=$(date +%s.%N)
redis_after=$(redis-cli -p "$redis_port" info stats | awk -F: '/^total_commands_processed/{print $2+0}')
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cat "$tmp/cluster.txt" >&2
redis_rate=$(awk -v a="$redis_before" -v b="$redis_after" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", (b - a) / (t1 - t0) }')
redis_cmds=$(redis-cli -p "$redis_port" info commandstats | sed -n 's/^cmdstat_\([a-z]*\):calls=\([0-9]*\).*/\1=\2/p' | tr '\n' ' ')
stop_all

# LL-HLS requests per core: one node, the source rendition passed through (no video
# re-encoding; audio Opus → AAC), DVR off; the baseline step (publisher only) is subtracted.
hls_cmd="glint loadtest --url http://127.0.0.1:$port --room hls --publisher loop --viewers 0 --hls-viewers $hls_viewers --hls-rendition source --warmup 6s --duration $step"
echo "bench clusterload: $hls_cmd" >&2
start_glint "" "$tmp/hls-server.log" --hls=true --hls-ladder source --dvr=false
"$GLINT_BIN" loadtest --url "http://127.0.0.1:$port" --server-pid "$server" --room hls --publisher loop --viewers 0 \
  --hls-viewers "$hls_viewers" --hls-rendition source --warmup 6s --duration "$step" --json "$tmp/hls.json" >"$tmp/hls.txt" \
  || echo "bench clusterload: LL-HLS loadtest exited $?" >&2
cat "$tmp/hls.txt" >&2
stop_glint

cat <<MD
## Cluster under load: per-node numbers of a 3-node run (issue 14)

\`redis-server\` and three \`glint serve --hls=false --redis redis://127.0.0.1:$redis_port/0 --cluster-secret … --node-id node-X\`
(A, B, C on ports $port-$((port + 2))), in a loopback-only namespace, then:

\`$cmd\`

One loop publisher on A (2 s of libx264 $size 30 fps at $bitrate kbit/s, replayed, a capture-time
SEI in every frame, plus Opus). Bare viewers (loadtest/bare: no pion, no RTCP, so no bandwidth
estimation on the server) spread over A, B, C in turn; B and C each pull the room from A over
one relay. Nothing pinned: the three servers, redis-server and the load generator share the
machine's $(nproc) cores, which other work also used (load average $load_before at the start,
$load_after at the end). Server CPU and RSS per node from /proc; "per viewer" is over that
node's own 0-viewer baseline; latency = capture → the frame's last packet at the viewer.

MD
python3 - "$tmp/cluster.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("| viewers | node | its viewers (alive) | latency p50 / p95 | frames | loss | server CPU | per viewer | packets out / s | RSS | relays in / out (upstream sessions opened) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
rows = ([r["baseline"]] if r.get("baseline") else []) + r.get("steps", [])
for s in rows:
    for n in s.get("nodes", []):
        w = n.get("webrtc") or {}
        name = n["url"].rsplit(":", 1)[-1]
        name = {0: "A", 1: "B", 2: "C"}.get(s["nodes"].index(n), name) + (" (publish)" if n.get("publish") else "")
        lat = "—" if not w else f'{w["latency_p50_ms"]:.1f} / {w["latency_p95_ms"]:.1f} ms'
        frames = "—" if not w else f'{w["frames_percent"]:.1f}%'
        loss = "—" if not w else f'{w["loss_percent"]:.2f}%'
        alive = "0" if not w else f'{n["viewers"]} ({w["alive"]})'
        per = "—" if not n["viewers"] else f'{n["server_cpu_per_viewer_percent"]:.3f}%'
        sessions = f' ({n["relay_connects"]} upstream session{"s" if n["relay_connects"] > 1 else ""})' if n.get("relay_connects") else ""
        print(f'| {s["viewers"]} | {name} | {alive} | {lat} | {frames} | {loss} | {n["server_cpu_percent"]:.1f}% | {per} | {n.get("server_packets_out_per_sec", 0):.0f} | {n["server_rss_bytes"] / 2**20:.0f} MB | {n["relays_in"]} / {n["relays_out"]}{sessions} |')
    w = s.get("webrtc") or {}
    if w:
        sat = " (saturated)" if s.get("loadgen_saturated") else ""
        print(f'| {s["viewers"]} | **all** | {w["viewers"]} ({w["alive"]}) | {w["latency_p50_ms"]:.1f} / {w["latency_p95_ms"]:.1f} ms | {w["frames_percent"]:.1f}% | {w["loss_percent"]:.2f}% | {s["server_cpu_percent"]:.1f}% | {s["server_cpu_per_viewer_percent"]:.3f}% | {s.get("server_packets_out_per_sec", 0):.0f} | {s["server_rss_bytes"] / 2**20:.0f} MB | load generator {s["loadgen_cpu_percent"]:.0f}%{sat}, machine {s.get("machine_cpu_percent", 0):.0f}% |')
if r.get("error"):
    print(f'\nStopped early: {r["error"]}')
PY
cat <<MD

Redis during the run (\`INFO stats\` total_commands_processed, the whole loadtest including
joins and close): $redis_rate commands/s for 3 nodes and 1 room; by command: $redis_cmds

LL-HLS requests per core, one node: \`glint serve --hls-ladder source --dvr=false\` (the
source rendition passed through, audio Opus → AAC), \`$hls_cmd\`
(Go LL-HLS viewers: blocking playlist reloads + preload-hinted parts, 200 ms parts):

MD
python3 - "$tmp/hls.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
b, steps = r.get("baseline"), r.get("steps", [])
if not b or not steps:
    print(f'no measurement: {r.get("error", "no steps")}')
    sys.exit(0)
s = steps[-1]
h = s.get("llhls") or {}
rps = s.get("server_hls_requests_per_sec", 0)
extra = s["server_cpu_percent"] - b["server_cpu_percent"]
per_core = rps / (extra / 100) if extra > 0 else float("nan")
print("| LL-HLS viewers | requests / s | server CPU (publisher only → with viewers) | requests / s per core | frames | part available p50 / p95 |")
print("|---|---|---|---|---|---|")
print(f'| {h.get("viewers", 0)} ({h.get("alive", 0)} alive) | {rps:.0f} | {b["server_cpu_percent"]:.1f}% → {s["server_cpu_percent"]:.1f}% | {per_core:.0f} | {h.get("frames_percent", 0):.1f}% | {h.get("part_latency_p50_ms", 0):.0f} / {h.get("part_latency_p95_ms", 0):.0f} ms |')
PY
