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
trap 'stop_glint; stop_peer; rm -rf "$tmp"' EXIT
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
stop_glint
# The peer server (BENCH_PEER_BIN, see lib.sh) the same way, in the same invocation.
peer_runs=()
if start_peer 0 "$tmp/peer.log"; then
  for run in "1 0 one" "1 2 staggered" "$viewers 0 all"; do
    set -- $run
    taskset -c 1 "$GLINT_BIN" loadtest --url http://127.0.0.1:18889 --whip-url 'http://127.0.0.1:18889/{room}/whip' \
      --whep-url 'http://127.0.0.1:18889/{room}/whep' --room "join$3" --publisher live --viewers "$viewers" \
      --join-batch "$1" --ramp-rate "$2" --duration "$step" --server-pid $peer_pid --json "$tmp/peer-$3.json" >&2 || true
    peer_runs+=("$tmp/peer-$3.json")
  done
  stop_peer
fi
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

The "peer" rows (when \`BENCH_PEER_BIN\` names its binary) are MediaMTX ${peer_version:-} with the
same publisher and viewers, pinned the same way: it forwards a keyframe request per join.

| server | viewers joining | join p50 | join p95 | joined | keyframe requests seen by the publisher | latency p50 / p95 after the join |
|---|---|---|---|---|---|---|
MD
python3 - "$tmp/one.json" "$tmp/staggered.json" "$tmp/all.json" "${peer_runs[@]}" <<'PY'
import json, sys
labels = ("one at a time", "staggered over 10 s", "all at once")
for i, path in enumerate(sys.argv[1:]):
    label = labels[i % 3]
    server = "Glint" if i < 3 else "peer"
    try:
        r = json.load(open(path))
    except (OSError, ValueError) as e:
        print(f'| {server} | {label} | failed: {e} | | | | |')
        continue
    if r.get("error") or not r["steps"]:
        print(f'| {server} | {label} | failed: {r.get("error", "no step")} | | | | |')
        continue
    w = r["steps"][0]["webrtc"]
    pub = r["publishers"][0]
    print(f'| {server} | {w["viewers"]} {label} | {w["join_p50_ms"]:.0f} ms | {w["join_p95_ms"]:.0f} ms | {w["joined"]}/{w["viewers"]} | '
          f'{pub["keyframe_requests"]} | {w["latency_p50_ms"]:.1f} / {w["latency_p95_ms"]:.1f} ms |')
PY
