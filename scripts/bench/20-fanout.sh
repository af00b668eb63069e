#!/usr/bin/env bash
# SFU fan-out curve (issues 3 and 7): `glint loadtest` (loop publisher, light WebRTC viewers)
# against `glint serve` on loopback, server pinned to core 0 and load generator to core 1
# so that each has its own core. A second, short run at one count with full viewers shows
# what the light viewers save the load generator.
set -euo pipefail
viewers=${BENCH_VIEWERS:-1,50,100,200,300,500}
step=${BENCH_STEP:-10s}
full=${BENCH_FULL_VIEWERS:-50}
bare=${BENCH_BARE_VIEWERS:-100,300,500}
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'stop_glint; rm -rf "$tmp"' EXIT
start_glint 0 "$tmp/server.log" --hls=false
cmd="taskset -c 1 glint loadtest --url http://127.0.0.1:$port --publisher loop --viewers $viewers --duration $step --server-pid \$SERVER --json out.json"
echo "bench fanout: $cmd" >&2
taskset -c 1 "$GLINT_BIN" loadtest --url http://127.0.0.1:$port --publisher loop --viewers "$viewers" \
  --duration "$step" --server-pid $server --json "$tmp/light.json" >&2 || echo "bench fanout: loadtest (light) exited $?; its report says where it stopped" >&2
cmd_full="taskset -c 1 glint loadtest --url http://127.0.0.1:$port --room full --viewers $full --viewer full --duration $step --server-pid \$SERVER --json full.json"
echo "bench fanout: $cmd_full" >&2
taskset -c 1 "$GLINT_BIN" loadtest --url http://127.0.0.1:$port --room full --viewers "$full" --viewer full \
  --duration "$step" --server-pid $server --json "$tmp/full.json" >&2 || echo "bench fanout: loadtest (full) exited $?; its report says where it stopped" >&2
cmd_bare="taskset -c 1 glint loadtest --url http://127.0.0.1:$port --room bare --publisher loop --viewers $bare --viewer bare --duration $step --server-pid \$SERVER --json bare.json"
echo "bench fanout: $cmd_bare" >&2
taskset -c 1 "$GLINT_BIN" loadtest --url http://127.0.0.1:$port --room bare --publisher loop --viewers "$bare" --viewer bare \
  --duration "$step" --server-pid $server --json "$tmp/bare.json" >&2 || echo "bench fanout: loadtest (bare) exited $?; its report says where it stopped" >&2
cat <<MD
## SFU fan-out: latency, CPU and memory per viewer (issues 3 and 7)

\`$cmd\`

\`$cmd_full\`

\`$cmd_bare\`

Server: \`taskset -c 0 glint serve --hls=false ...\` (core 0), load generator on core 1, in a
loopback-only namespace. One loop publisher: 2 s of libx264 720p30 at 2.5 Mbit/s encoded once
and replayed, a capture-time SEI stamped into every frame as it is sent, plus Opus. Latency =
capture → the frame's last packet at the viewer (light viewers: RTP headers and the SEI only).
Server CPU and RSS from /proc (\`--server-pid\`); per-viewer costs are over the 0-viewer
baseline. Transit = Glint's \`glint_transit_seconds\` (packet in → packet out of the SFU).
The "bare" rows use viewers without pion (loadtest/bare, ~5× cheaper for the load generator):
they send no RTCP, so the server runs no bandwidth estimation for them and its cost per
viewer is understated; they show where the server itself saturates.

MD
python3 - "$tmp/light.json" "$tmp/full.json" "$tmp/bare.json" <<'PY'
import json, sys
light, full, bare = (json.load(open(p)) for p in sys.argv[1:4])
print("| viewers | latency p50 / p95 / p99 / max | frames | loss | freezes/min | server CPU | per viewer | RSS | per viewer | transit p50 / p99 | load generator CPU | per viewer | machine CPU |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
def row(s, label, run):
    w = s.get("webrtc") or {}
    n = s["viewers"]
    lat = "—" if not w else f'{w["latency_p50_ms"]:.1f} / {w["latency_p95_ms"]:.1f} / {w["latency_p99_ms"]:.1f} / {w["latency_max_ms"]:.0f} ms'
    frames = "—" if not w else f'{w["frames_percent"]:.1f}%'
    loss = "—" if not w else f'{w["loss_percent"]:.2f}%'
    fz = "—" if not w else f'{w["freezes_per_minute"]:.2f}'
    per = lambda v: "—" if n == 0 else v
    transit = "—" if not s.get("transit_samples") else f'{s["transit_p50_ms"]:.2f} / {s["transit_p99_ms"]:.2f} ms'
    sat = " (saturated)" if s.get("loadgen_saturated") else ""
    base = run.get("baseline") or {}
    lg_per = per("%.3f%%" % ((s["loadgen_cpu_percent"] - base.get("loadgen_cpu_percent", 0)) / max(n, 1)))
    cpu_per = per("%.3f%%" % s["server_cpu_per_viewer_percent"])
    rss_per = per("%.0f KB" % (s["server_rss_per_viewer_bytes"] / 1024))
    print("| %s | %s | %s | %s | %s | %.1f%% | %s | %.0f MB | %s | %s | %.1f%%%s | %s | %.0f%% |" % (
        label, lat, frames, loss, fz, s["server_cpu_percent"], cpu_per, s["server_rss_bytes"] / 2**20, rss_per,
        transit, s["loadgen_cpu_percent"], sat, lg_per, s.get("machine_cpu_percent", 0)))
if light.get("baseline"):
    row(light["baseline"], "0", light)
for s in light["steps"]:
    row(s, str(s["viewers"]), light)
for s in full["steps"]:
    row(s, "%d (full viewers)" % s["viewers"], full)
for s in bare["steps"]:
    row(s, "%d (bare viewers)" % s["viewers"], bare)
if light.get("error"):
    print(f'\nStopped early: {light["error"]}')
PY
