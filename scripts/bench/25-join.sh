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
for batch in 1 "$viewers"; do
  cmd="taskset -c 1 glint loadtest --url http://127.0.0.1:$port --room join$batch --publisher live --viewers $viewers --join-batch $batch --duration $step --server-pid \$SERVER --json out.json"
  echo "bench join: $cmd" >&2
  taskset -c 1 "$GLINT_BIN" loadtest --url http://127.0.0.1:$port --room "join$batch" --publisher live --viewers "$viewers" \
    --join-batch "$batch" --duration "$step" --server-pid $server --json "$tmp/batch$batch.json" >&2
  echo "$cmd" >"$tmp/cmd$batch"
done
cat <<MD
## Join time (issue 7)

\`$(cat "$tmp/cmd1")\`

\`$(cat "$tmp/cmd$viewers")\`

Server: \`taskset -c 0 glint serve --hls=false ...\`, load generator on core 1, loopback-only
namespace. One live publisher (libx264 720p30 2.5 Mbit/s, an IDR on every keyframe request,
periodic IDR every 2 s). Join time = the WHEP POST sent → the first complete IDR with SPS/PPS
at the viewer. The same $viewers viewers join one at a time, then all at once.

| viewers joining | join p50 | join p95 | joined | keyframe requests seen by the publisher | latency p50 / p95 after the join |
|---|---|---|---|---|---|
MD
python3 - "$tmp/batch1.json" "$tmp/batch$viewers.json" <<'PY'
import json, sys
for path, label in zip(sys.argv[1:3], ("one at a time", "all at once")):
    r = json.load(open(path))
    if r.get("error") or not r["steps"]:
        print(f'| {label} | failed: {r.get("error", "no step")} | | | | |')
        continue
    w = r["steps"][0]["webrtc"]
    pub = r["publishers"][0]
    print(f'| {w["viewers"]} {label} | {w["join_p50_ms"]:.0f} ms | {w["join_p95_ms"]:.0f} ms | {w["joined"]}/{w["viewers"]} | '
          f'{pub["keyframe_requests"]} | {w["latency_p50_ms"]:.1f} / {w["latency_p95_ms"]:.1f} ms |')
PY
