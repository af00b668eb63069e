#!/usr/bin/env bash
# Send lanes (issue 12): the media socket's batched sender with one writer
# (--udp-send-lanes 1, as before) against one writer per core (the default), on the whole
# 2-core machine — server and load generator unpinned, as a node runs — with bare viewers
# that send receiver reports every second. The two settings alternate, BENCH_LANES_ROUNDS
# times per viewer count, so both see the same machine.
set -euo pipefail
counts=${BENCH_LANES_VIEWERS:-300 500 1000}
rounds=${BENCH_LANES_ROUNDS:-2}
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

cat <<MD
## Send lanes: one writer per core on the media socket (issue 12)

\`glint serve --hls=false --udp-send-lanes L\` and \`glint loadtest --publisher loop --viewers N
--viewer bare --viewer-reports 1s --duration $step\`, both unpinned on the $(nproc)-core machine in a
loopback-only namespace; L = 1 (one writer, as before) and L = 0 (one per core: $(nproc) here)
alternate, $rounds rounds per count. Server CPU is of the whole machine's cores (200 % = both);
transit is the SFU's (arrival to sendmmsg return), "unpaced" less the pacer's hold.

MD
python3 - "$tmp" "$counts" "$rounds" <<'PY'
import json, os, sys
tmp, counts, rounds = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
print('| viewers | lanes | round | server CPU % | per viewer % | transit p50 / p99 ms | unpaced p99 ms | latency p50 / p95 ms | frames % | loadgen CPU % |')
print('|---|---|---|---|---|---|---|---|---|---|')
for n in counts:
    for r in range(1, rounds + 1):
        for lanes in ('1', '0'):
            path = os.path.join(tmp, f'lt-{n}-{lanes}-{r}.json')
            label = '1' if lanes == '1' else 'per core'
            if not os.path.exists(path):
                print(f'| {n} | {label} | {r} | no report | | | | | | |')
                continue
            s = json.load(open(path))['steps'][-1]
            s.update(s.get('webrtc') or {})
            g = lambda k: s.get(k) or 0
            print(f"| {n} | {label} | {r} | {g('server_cpu_percent'):.1f} | {g('server_cpu_per_viewer_percent'):.3f} | "
                  f"{g('transit_p50_ms'):.1f} / {g('transit_p99_ms'):.1f} | {g('transit_unpaced_p99_ms'):.1f} | "
                  f"{g('latency_p50_ms'):.1f} / {g('latency_p95_ms'):.1f} | {g('frames_percent'):.1f} | {g('loadgen_cpu_percent'):.1f} |")
PY
