#!/usr/bin/env bash
# Join time (issue 7): WHEP request → first decodable frame (a complete IDR with SPS/PPS),
# with the live publisher, which answers every keyframe request with an IDR at once, so the
# time measured is the server's (signaling, ICE, DTLS, keyframe request), not the GOP.
# Viewers join one at a time, then all at once. Server on core 0, load generator on core 1.
set -euo pipefail
viewers=${BENCH_JOIN_VIEWERS:-20}
step=${BENCH_STEP:-5s}
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'stop_glint; rm -rf "$tmp"' EXIT
start_glint 0 "$tmp/server.log" --hls=false
# one at a time (each join waits for the one before), staggered (one every 0.5 s: 20 over
# 10 s, so most joins come < 2 s after another, within one GOP), all at once.
for run in "1 0 one" "1 2 staggered" "$viewers 0 all"; do
  set -- $run
  cmd="taskset -c 1 glint loadtest --url http://127.0.0.1:$port --room join$3 --publisher live --viewers $viewers --join-batch $1 --ramp-rate $2 --duration $step --server-pid \$SERVER --json out.json"
  echo "bench join: $cmd" >&2
  taskset -c 1 "$GLINT_BIN" loadtest --url http://127.0.0.1:$port --room "join$3" --publisher live --viewers "$viewers" \
    --join-batch "$1" --ramp-rate "$2" --duration "$step" --server-pid $server --json "$tmp/$3.json" >&2
  echo "$cmd" >"$tmp/cmd$3"
done
cat <<MD
## Join time (issue 7)

\`$(cat "$tmp/cmdone")\`

\`$(cat "$tmp/cmdstaggered")\`

\`$(cat "$tmp/cmdall")\`

Server: \`taskset -c 0 glint serve --hls=false ...\`, load generator on core 1, loopback-only
namespace. One live publisher (libx264 720p30 2.5 Mbit/s, an IDR on every keyframe request,
periodic IDR every 2 s). Join time = the WHEP POST sent → the first complete IDR with SPS/PPS
at the viewer. $viewers viewers join one at a time, then staggered (2 a second), then all at once,
each run in its own room.

| viewers joining | join p50 | join p95 | joined | keyframe requests seen by the publisher | latency p50 / p95 after the join |
|---|---|---|---|---|---|
MD
python3 - "$tmp/one.json" "$tmp/staggered.json" "$tmp/all.json" <<'PY'
import json, sys
for path, label in zip(sys.argv[1:4], ("one at a time", "staggered over 10 s", "all at once")):
    r = json.load(open(path))
    if r.get("error") or not r["steps"]:
        print(f'| {label} | failed: {r.get("error", "no step")} | | | | |')
        continue
    w = r["steps"][0]["webrtc"]
    pub = r["publishers"][0]
    print(f'| {w["viewers"]} {label} | {w["join_p50_ms"]:.0f} ms | {w["join_p95_ms"]:.0f} ms | {w["joined"]}/{w["viewers"]} | '
          f'{pub["keyframe_requests"]} | {w["latency_p50_ms"]:.1f} / {w["latency_p95_ms"]:.1f} ms |')
PY
