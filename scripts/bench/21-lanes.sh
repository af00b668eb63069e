#!/usr/bin/env bash
# Send lanes (issue 12): the media socket's batched sender with one writer
# (--udp-send-lanes 1, as before) against one writer per core (the default), on the whole
# 2-core machine — server and load generator unpinned, as a node runs — with bare viewers
# that send receiver reports every second. The two settings alternate, BENCH_LANES_ROUNDS
# times per viewer count, so both see the same machine. Then, at the largest count with a
# lane per core, the load generator's socket polling every 10 ms against every 20 ms (its
# default): what the generator's reads take from the machine the server shares.
set -euo pipefail
counts=${BENCH_LANES_VIEWERS:-300 500 1000}
rounds=${BENCH_LANES_ROUNDS:-2}
poll_rounds=${BENCH_LANES_POLL_ROUNDS:-2}
step=${BENCH_STEP:-15s}
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'stop_glint; rm -rf "$tmp"' EXIT

for n in $counts; do
  for r in $(seq "$rounds"); do
    for lanes in 1 0; do
      echo "bench lanes: $n viewers, --udp-send-lanes $lanes, round $r" >&2
      start_glint "" "$tmp/server.log" --hls=false --udp-send-lanes "$lanes"
      "$GLINT_BIN" loadtest --url http://127.0.0.1:$port --server-pid $server --room lanes --publisher loop \
        --viewers "$n" --viewer bare --viewer-reports 1s --duration "$step" \
        --json "$tmp/lt-$n-$lanes-$r.json" >&2 || echo "bench lanes: loadtest exited $?" >&2
      stop_glint
    done
  done
done
largest=${counts##* }
for r in $(seq "$poll_rounds"); do
  for poll in 10ms 20ms; do
    echo "bench lanes: $largest viewers, --viewer-poll $poll, round $r" >&2
    start_glint "" "$tmp/server.log" --hls=false
    "$GLINT_BIN" loadtest --url http://127.0.0.1:$port --server-pid $server --room lanes --publisher loop \
      --viewers "$largest" --viewer bare --viewer-reports 1s --viewer-poll $poll --duration "$step" \
      --json "$tmp/poll-$poll-$r.json" >&2 || echo "bench lanes: loadtest exited $?" >&2
    stop_glint
  done
done

cat <<MD
## Send lanes: one writer per core on the media socket (issue 12)

\`glint serve --hls=false --udp-send-lanes L\` and \`glint loadtest --publisher loop --viewers N
--viewer bare --viewer-reports 1s --duration $step\`, both unpinned on the $(nproc)-core machine in a
loopback-only namespace; L = 1 (one writer, as before) and L = 0 (one per core: $(nproc) here)
alternate, $rounds rounds per count. Server CPU is of the whole machine's cores (200 % = both);
transit is the SFU's (arrival to sendmmsg return), "unpaced" less the pacer's hold.

MD
python3 - "$tmp" "$counts" "$rounds" "$largest" "$poll_rounds" <<'PY'
import json, os, sys
tmp, counts, rounds, largest, poll_rounds = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
cols = '| server CPU % | per viewer % | transit p50 / p99 ms | unpaced p99 ms | latency p50 / p95 ms | frames % | loadgen CPU % |'
def row(path):
    if not os.path.exists(path):
        return ' no report | | | | | | |'
    s = json.load(open(path))['steps'][-1]
    s.update(s.get('webrtc') or {})
    g = lambda k: s.get(k) or 0
    return (f" {g('server_cpu_percent'):.1f} | {g('server_cpu_per_viewer_percent'):.3f} | "
            f"{g('transit_p50_ms'):.1f} / {g('transit_p99_ms'):.1f} | {g('transit_unpaced_p99_ms'):.1f} | "
            f"{g('latency_p50_ms'):.1f} / {g('latency_p95_ms'):.1f} | {g('frames_percent'):.1f} | {g('loadgen_cpu_percent'):.1f} |")
print('| viewers | lanes | round ' + cols)
print('|---|---|---|---|---|---|---|---|---|---|')
for n in counts:
    for r in range(1, rounds + 1):
        for lanes in ('1', '0'):
            label = '1' if lanes == '1' else 'per core'
            print(f'| {n} | {label} | {r} |' + row(os.path.join(tmp, f'lt-{n}-{lanes}-{r}.json')))
print()
print(f'The load generator\'s polling, {largest} viewers, a lane per core:')
print()
print('| --viewer-poll | round ' + cols)
print('|---|---|---|---|---|---|---|---|---|')
for r in range(1, poll_rounds + 1):
    for poll in ('10ms', '20ms'):
        print(f'| {poll} | {r} |' + row(os.path.join(tmp, f'poll-{poll}-{r}.json')))
PY
