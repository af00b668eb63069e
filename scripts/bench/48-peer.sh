#!/usr/bin/env bash
# Glass-to-glass beside a peer server, in one invocation (issues 15 and 17): Chromium publishes
# a canvas carrying Date.now() as a barcode over WHIP (e2e/g2g.mjs publish), and Chromium reads
# the barcode back from every frame it presents, over WHEP and over LL-HLS with hls.js
# (lowLatencyMode, default settings), first from `glint serve`, then from the peer server.
# The peer is MediaMTX, a remuxing server (no ladder): give its binary as BENCH_PEER_BIN
# (built from its source, e.g. `go build` of github.com/bluenviron/mediamtx; it is not a Glint
# dependency and is not installed by scripts/install-deps.sh). Without it, only Glint is
# measured and the section says so.
# Env: BENCH_SECONDS (samples per viewer page after an 8 s warm-up, default 30);
# BENCH_PEER_LOGS=DIR keeps each page's output there (an hls page's start-up and stall events).
set -euo pipefail
seconds=${BENCH_SECONDS:-30}
warm=8
: "${GLINT_BIN:?set GLINT_BIN (scripts/bench.sh does)}"
. "$(dirname "$0")/lib.sh" # start_peer, stop_peer
[ -f web/static/vendor/hls.min.js ] || { echo "bench peer: run make web first" >&2; exit 1; }
[ -d e2e/node_modules/playwright-core ] || { echo "bench peer: e2e/node_modules missing: run scripts/install-deps.sh" >&2; exit 1; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
tmp=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true; stop_peer; wait 2>/dev/null || true
  [ -n "${BENCH_PEER_LOGS:-}" ] && mkdir -p "$BENCH_PEER_LOGS" && cp "$tmp"/glint.* "$tmp"/peer.* "$BENCH_PEER_LOGS"/ 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# run_server NAME WHIP WHEP HLS [HLS-RUNG]: one publisher page for the whole run, then a WHEP
# page, the LL-HLS page on the highest level, and (if given) one on a transcoded rung.
run_server() {
  local name=$1 whip=$2 whep=$3 hls=$4 rung=${5:-}
  local total=$(( (seconds + warm + 5) * 3 + 40 ))
  node e2e/g2g.mjs publish "$whip" --seconds=$total >"$tmp/$name.pub" 2>"$tmp/$name.pub.err" &
  local pub=$!
  pids+=($pub)
  echo "bench peer ($name): node e2e/g2g.mjs whep $whep" >&2
  node e2e/g2g.mjs whep "$whep" --seconds=$((seconds + warm)) --warmup=$warm >"$tmp/$name.whep" 2>>"$tmp/$name.err" || true
  echo "bench peer ($name): node e2e/g2g.mjs hls $hls --level=max" >&2
  node e2e/g2g.mjs hls "$hls" --seconds=$((seconds + warm)) --warmup=$warm --level=max >"$tmp/$name.hls" 2>>"$tmp/$name.err" || true
  if [ -n "$rung" ]; then
    echo "bench peer ($name): node e2e/g2g.mjs hls $hls --level=mid" >&2
    node e2e/g2g.mjs hls "$hls" --seconds=$((seconds + warm)) --warmup=$warm --level=mid >"$tmp/$name.rung" 2>>"$tmp/$name.err" || true
  fi
  kill $pub 2>/dev/null || true; wait $pub 2>/dev/null || true
  local f
  for f in "$tmp/$name".whep "$tmp/$name".hls "$tmp/$name".rung; do
    [ -f "$f" ] && ! grep -q '"ok":true' "$f" && { echo "bench peer ($name): $(basename "$f") failed; its last lines:"; tail -5 "$f"; } >&2
  done
  return 0
}

data=$(mktemp -d -p "$tmp")
"$GLINT_BIN" serve --http-addr 127.0.0.1:18090 --udp-port 18199 --ice-ip 127.0.0.1 --ice-tcp=false \
  --hls-part 200ms --rtmp-addr= --srt-addr= --data-dir "$data" --log-level warn 2>"$tmp/glint.log" &
glint=$!; pids+=($glint)
for _ in $(seq 50); do curl -fs http://127.0.0.1:18090/healthz >/dev/null && break; sleep 0.1; done
run_server glint http://127.0.0.1:18090/whip/g2g http://127.0.0.1:18090/whep/g2g http://127.0.0.1:18090/hls/g2g/index.m3u8 rung
kill $glint; wait $glint 2>/dev/null || true

if PEER_HLS=yes start_peer "" "$tmp/peer.log"; then
  run_server peer http://127.0.0.1:18889/g2g/whip http://127.0.0.1:18889/g2g/whep http://127.0.0.1:18888/g2g/index.m3u8
  stop_peer
fi

cat <<MD
## Glass-to-glass beside a peer server: WebRTC and LL-HLS in Chromium (issues 15 and 17)

\`BENCH_PEER_BIN=/path/to/mediamtx scripts/bench.sh peer\`: Chromium publishes a 1280x720 30 fps
canvas (H.264, 2.5 Mbit/s) whose top edge carries Date.now() as a barcode, drawn and captured
at the same instant (\`node e2e/g2g.mjs publish WHIP-URL\`); a second Chromium reads the
barcode back from every frame it presents (requestVideoFrameCallback's expected display time
minus the drawn time: glass-to-glass, encoder and decoder included) over WHEP
(\`node e2e/g2g.mjs whep URL\`) and over LL-HLS with hls.js 1.x, lowLatencyMode, default settings
(\`node e2e/g2g.mjs hls URL --level=max|mid\`), $seconds s each after an $warm s warm-up. Both
servers in this one invocation, one after the other, with 200 ms parts; Glint with its default
ladder (the highest level is the source rendition; "rung" is the middle, transcoded level); the
peer remuxes only. Peer: ${peer_version:-not measured (BENCH_PEER_BIN unset)}.

The last two columns are hls.js's own view: its \`latency\` (p50 of one sample a second: seconds behind
its estimate of the playlist's live edge) and the \`targetLatency\` it computed (PART-HOLD-BACK,
plus a second per stall), and the stalls of the whole page (warm-up included): hls.js's
\`bufferStalledError\`s / the video element's \`waiting\` events once it played (a seek over a
buffer hole is one too). Load average when the run began: $load_before; when it ended: $(cut -d' ' -f1-3 /proc/loadavg).

| server | path | frames read | g2g p50 | g2g p95 | max | hls.js latency / target | stalls / waiting |
|---|---|---|---|---|---|---|---|
MD
python3 - "$tmp" <<'PY'
import json, os, sys
tmp = sys.argv[1]
def last(path):
    try:
        lines = [l for l in open(path) if l.startswith('{"result"')]
        return json.loads(lines[-1])["result"] if lines else None
    except OSError:
        return None
for name, label in (("glint", "Glint"), ("peer", "peer (MediaMTX)")):
    for kind, path in (("whep", "WebRTC (WHEP)"), ("hls", "LL-HLS, highest level"), ("rung", "LL-HLS, transcoded rung")):
        r = last(os.path.join(tmp, f"{name}.{kind}"))
        if r is None:
            continue
        g = r.get("g2g")
        if not r.get("ok") or not g:
            print(f'| {label} | {path} | failed: {r.get("failure", "")[:120]} | | | | | |')
            continue
        h = r.get("hls") or {}
        view = f'{h["latencyP50"]:.2f} s / {h["targetLatency"]:.2f} s' if h.get("latencyP50") and h.get("targetLatency") else "—"
        stalls = f'{h["stalls"]} / {h["waiting"]}' if "stalls" in h else "—"
        print(f'| {label} | {path} | {g["n"]} | {g["p50"]} ms | {g["p95"]} ms | {g["max"]} ms | {view} | {stalls} |')
PY
