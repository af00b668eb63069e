#!/usr/bin/env bash
# SFU fan-out curve (issues 3, 7 and 12): `glint loadtest` (loop publisher) against
# `glint serve` on loopback, server pinned to core 0 and load generator to core 1 so each
# has its own core, in one invocation per mode: batched (the defaults: sendmmsg + UDP GSO,
# Glint's own estimator, the SFU's own SRTP egress), transport-cc (pion's estimator, so
# pion's write chain), sendto (one sendto per packet, --udp-batch-send=false, so pion's
# write chain too) and remb (the viewers estimate their own bandwidth, own egress); BENCH_MODES
# picks others; with BENCH_BASE_BIN (a glint binary built from an earlier commit) mode
# "base" runs that binary with --viewer-bwe=gcc, for a before/after in the same run.
# Each mode: light WebRTC viewers (send RTCP), bare viewers (no pion, no RTCP) up to 1,000,
# and a CPU profile of the server at 300 light viewers (where the time goes).
set -euo pipefail
viewers=${BENCH_VIEWERS:-1,100,300,500}
step=${BENCH_STEP:-10s}
bare=${BENCH_BARE_VIEWERS:-300,500,1000}
default_modes="batched transport-cc sendto remb"
[ -n "${BENCH_BASE_BIN:-}" ] && default_modes="base $default_modes"
modes=${BENCH_MODES:-$default_modes}
table_modes=$modes
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'stop_glint; stop_peer; rm -rf "$tmp"' EXIT
flag_for() {
  case $1 in
  sendto) echo --udp-batch-send=false ;;
  remb) echo --viewer-bwe=remb ;;
  gcc | base) echo --viewer-bwe=gcc ;;
  transport-cc) echo --viewer-bwe=transport-cc ;;
  *) echo --udp-batch-send=true ;;
  esac
}

loadtest() { # loadtest CPUS JSON [flags...]
  local cpus=$1 json=$2; shift 2
  local pin=(); [ -n "$cpus" ] && pin=(taskset -c "$cpus")
  "${pin[@]}" "$GLINT_BIN" loadtest --url http://127.0.0.1:$port --server-pid $server --json "$json" "$@" >&2 \
    || echo "bench fanout: loadtest exited $?; its report says where it stopped" >&2
}

for mode in $modes; do
  flag=$(flag_for "$mode")
  echo "bench fanout: mode $mode ($flag)" >&2
  tool_bin=$GLINT_BIN
  if [ "$mode" = base ]; then
    GLINT_BIN=${BENCH_BASE_BIN:?mode base needs BENCH_BASE_BIN}
    start_glint 0 "$tmp/server-$mode.log" --hls=false "$flag"
    GLINT_BIN=$tool_bin
    server_bin=$BENCH_BASE_BIN
  else
    start_glint 0 "$tmp/server-$mode.log" --hls=false "$flag"
    server_bin=$GLINT_BIN
  fi
  loadtest 1 "$tmp/light-$mode.json" --publisher loop --viewers "$viewers" --duration "$step"
  loadtest 1 "$tmp/bare-$mode.json" --room bare --publisher loop --viewers "$bare" --viewer bare --duration "$step"
  # Profile: 300 light viewers, 10 s of server CPU profile once they have joined (the
  # loadtest first measures a 0-viewer baseline step: wait for the 300-viewer step).
  taskset -c 1 "$GLINT_BIN" loadtest --url http://127.0.0.1:$port --server-pid $server --json "$tmp/prof-$mode.json" \
    --room prof --publisher loop --viewers 300 --duration 30s 2>"$tmp/prof-$mode.log" >/dev/null &
  prof=$!
  for _ in $(seq 600); do grep -q '^  300 WebRTC.*measuring' "$tmp/prof-$mode.log" && break; sleep 0.5; done
  curl -fs -o "$tmp/cpu-$mode.pprof" "http://127.0.0.1:$port/debug/pprof/profile?seconds=10" || true
  wait $prof || echo "bench fanout: profile loadtest exited $?" >&2
  go tool pprof -top -cum -nodecount=2000 "$server_bin" "$tmp/cpu-$mode.pprof" >"$tmp/top-$mode.txt" 2>/dev/null || echo "no profile" >"$tmp/top-$mode.txt"
  stop_glint
done
# The peer server (BENCH_PEER_BIN, see lib.sh), light viewers only, pinned the same way.
if start_peer 0 "$tmp/peer.log"; then
  echo "bench fanout: peer $peer_version" >&2
  taskset -c 1 "$GLINT_BIN" loadtest --url http://127.0.0.1:18889 --whip-url 'http://127.0.0.1:18889/{room}/whip' \
    --whep-url 'http://127.0.0.1:18889/{room}/whep' --server-pid $peer_pid --json "$tmp/light-peer.json" \
    --publisher loop --viewers "$viewers" --duration "$step" >&2 || echo "bench fanout: loadtest (peer) exited $?" >&2
  stop_peer
  table_modes="$modes peer"
fi

cat <<MD
## SFU fan-out: latency, CPU and memory per viewer (issues 3, 7 and 12)

Per mode (\`batched\`: \`glint serve\` with its defaults: \`--udp-batch-send=true\`, sendmmsg
from one writer per core the server may use — one here, pinned — + UDP GSO; \`--viewer-bwe=gcc\`, transport-cc estimated by Glint's own
GCC, sfu/gcc; the SFU's own SRTP egress, sfu/egress.go; video woken per frame;
\`transport-cc\`: batched, with pion's estimator, whose interceptors need every packet in pion's
write chain (interceptors, SRTP session, ICE connection, a copy into the batched queue);
\`sendto\`: \`--udp-batch-send=false\`, one sendto per packet, through pion's write chain;
\`remb\`: batched, \`--viewer-bwe=remb\`: transport-cc is not negotiated, the viewers estimate their
own bandwidth, no per-viewer delay-based estimator on the server — the light viewers, pion without
a REMB generator, send receiver reports and NACKs, which feed the loss-based estimate;
\`base\`: \`BENCH_BASE_BIN\`, the build before the own egress and the per-frame wake,
with \`--viewer-bwe=gcc\`),
in this one invocation, and (rows "peer", when \`BENCH_PEER_BIN\` names its binary) MediaMTX
${peer_version:-} with the same light viewers, pinned the same way (a remuxing Go server on pion):

\`taskset -c 1 glint loadtest --url http://127.0.0.1:18080 --publisher loop --viewers $viewers --duration $step --server-pid \$SERVER\`

\`taskset -c 1 glint loadtest --url http://127.0.0.1:18080 --room bare --publisher loop --viewers $bare --viewer bare --duration $step --server-pid \$SERVER\`

Server: \`taskset -c 0 glint serve --hls=false ...\` (core 0), load generator on core 1, in a
loopback-only namespace. One loop publisher: 2 s of libx264 720p30 at 2.5 Mbit/s encoded once
and replayed, a capture-time SEI stamped into every frame as it is sent, plus Opus. Latency =
capture → the frame's last packet at the viewer (light viewers: pion, RTP headers and the SEI
only, receiver reports and NACKs sent). Server CPU and RSS from /proc (\`--server-pid\`);
per-viewer costs are over the 0-viewer baseline. Transit = Glint's \`glint_transit_seconds\`
(packet in → packet out of the SFU). "bare" viewers are not pion (loadtest/bare, ~5× cheaper
for the load generator): they send no RTCP, so they show where the server itself saturates.
"(saturated)" marks a load generator that used its whole core: the latency of that row is
the load generator's as much as the server's.

MD
python3 - "$tmp" "$viewers" "$bare" $table_modes <<'PY'
import json, os, sys
tmp, asked, modes = sys.argv[1], {"light": sys.argv[2], "bare": sys.argv[3]}, sys.argv[4:]
print("| mode | viewers | latency p50 / p95 / p99 / max | frames | loss | freezes/min | server CPU | per viewer | RSS | per viewer | transit p50 / p99 | load generator CPU |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
def row(mode, s, label):
    w = s.get("webrtc") or {}
    n = s["viewers"]
    lat = "—" if not w else f'{w["latency_p50_ms"]:.1f} / {w["latency_p95_ms"]:.1f} / {w["latency_p99_ms"]:.1f} / {w["latency_max_ms"]:.0f} ms'
    frames = "—" if not w else f'{w["frames_percent"]:.1f}%'
    loss = "—" if not w else f'{w["loss_percent"]:.2f}%'
    fz = "—" if not w else f'{w["freezes_per_minute"]:.2f}'
    per = lambda v: "—" if n == 0 else v
    transit = "—" if not s.get("transit_samples") else f'{s["transit_p50_ms"]:.2f} / {s["transit_p99_ms"]:.2f} ms'
    sat = " (saturated)" if s.get("loadgen_saturated") else ""
    print("| %s | %s | %s | %s | %s | %s | %.1f%% | %s | %.0f MB | %s | %s | %.1f%%%s |" % (
        mode, label, lat, frames, loss, fz, s["server_cpu_percent"], per("%.3f%%" % s["server_cpu_per_viewer_percent"]),
        s["server_rss_bytes"] / 2**20, per("%.0f KB" % (s["server_rss_per_viewer_bytes"] / 1024)),
        transit, s["loadgen_cpu_percent"], sat))
for mode in modes:
    for kind in ("light", "bare"):
        p = os.path.join(tmp, f"{kind}-{mode}.json")
        try:
            r = json.load(open(p))
        except (OSError, ValueError) as e:
            print(f'| {mode} | {kind}: no report ({e.__class__.__name__}); the loadtest output above says why |||||||||||')
            continue
        if kind == "light" and r.get("baseline"):
            row(mode, r["baseline"], "0")
        done = set()
        for s in r.get("steps") or []:  # null when the loadtest stopped before its first step
            done.add(s["viewers"])
            row(mode, s, str(s["viewers"]) + ("" if kind == "light" else " bare"))
        if r.get("error"):
            print(f'| {mode} | {kind} stopped early: {r["error"]} |||||||||||')
        missing = [n for n in map(int, asked[kind].split(",")) if n not in done]
        if missing and not r.get("error"):
            print(f'| {mode} | {kind}: no step for {", ".join(map(str, missing))} viewers and no error in the report; the loadtest output above says why |||||||||||')
PY
echo
echo "Where the server's CPU goes at 300 light viewers: share of the server's CPU samples under each"
echo "function (cumulative, \`go tool pprof -top -cum\` of a 10 s profile from /debug/pprof/profile"
echo "taken in the 300-viewer step; the rows overlap where one calls the other):"
echo
python3 - "$tmp" $modes <<'PY'
import os, re, sys
tmp, modes = sys.argv[1], sys.argv[2:]
rows = [("forwarding to viewers (DownTrack.send, all below it)", r"sfu\.\(\*DownTrack\)\.send$"),
        ("  pion GCC: per-packet send history (cc.FeedbackAdapter.OnSent)", r"cc\.\(\*FeedbackAdapter\)\.OnSent$"),
        ("  Glint's own egress: number, marshal, encrypt, queue (egress.writeRTP)", r"sfu\.\(\*egress\)\.writeRTP$"),
        ("  SRTP encryption (srtp Context.encryptRTP)", r"srtp/v3\.\(\*Context\)\.encryptRTP$"),
        ("  ICE write path (ice Conn.Write)", r"ice/v4\.\(\*Conn\)\.Write$"),
        ("  batched writer's queue: copy and lock (batchConn.WriteToAddrPort)", r"sfu\.\(\*batchConn\)\.WriteToAddrPort$"),
        ("socket writer: batched (batchConn.writeLoop)", r"sfu\.\(\*batchConn\)\.writeLoop$"),
        ("  Glint GCC: per-packet send history (gcc Estimator.OnSent)", r"sfu/gcc\.\(\*Estimator\)\.OnSent$"),
        ("viewers' RTCP (DownTrack.rtcpLoop)", r"sfu\.\(\*DownTrack\)\.rtcpLoop$"),
        ("  pion GCC: TWCC feedback (gcc SendSideBWE.WriteRTCP)", r"gcc\.\(\*SendSideBWE\)\.WriteRTCP$"),
        ("  Glint GCC: TWCC feedback (gcc Estimator.OnRTCP)", r"sfu/gcc\.\(\*Estimator\)\.OnRTCP$"),
        ("  NACK retransmissions (DownTrack.retransmit)", r"sfu\.\(\*DownTrack\)\.retransmit$"),
        ("the publisher's packets in (UpTrack.readLoop)", r"sfu\.\(\*UpTrack\)\.readLoop$"),
        ("system calls (linux.Syscall6, the kernel work included)", r"^internal/runtime/syscall/linux\.Syscall6$"),
        ("allocation (runtime.mallocgc)", r"runtime\.mallocgc$"),
        ("garbage collector workers (runtime.gcBgMarkWorker)", r"runtime\.gcBgMarkWorker$")]
tables = {}
for m in modes:
    vals, total = {}, ""
    try:
        text = open(os.path.join(tmp, f"top-{m}.txt")).read()
    except OSError:
        text = ""
    mt = re.search(r"Total samples = (\S+) \((\s*[\d.]+%)\)", text)
    total = f"{mt.group(1)} in 10 s ({mt.group(2).strip()} of a core)" if mt else "no profile"
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 6 and f[3].endswith("s") and f[4].endswith("%"):
            name = " ".join(f[5:])
            for label, rx in rows:
                if re.search(rx, name):
                    vals[label] = vals.get(label, 0) + float(f[4].rstrip("%"))
    tables[m] = (vals, total)
print("| where | " + " | ".join(modes) + " |")
print("|---|" + "---|" * len(modes))
print("| samples | " + " | ".join(tables[m][1] for m in modes) + " |")
for label, _ in rows:
    print(f"| {label} | " + " | ".join(("%.1f%%" % tables[m][0][label]) if label in tables[m][0] else "—" for m in modes) + " |")
PY
