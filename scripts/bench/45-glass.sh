#!/usr/bin/env bash
# LL-HLS glass-to-glass in Chromium (issues 5, 17): `glint demo` publishes over WHIP into `glint serve`
# with LL-HLS on; Chromium plays /watch/ROOM?mode=hls (hls.js, lowLatencyMode) on the source
# rendition (quality=h) and on a transcoded rung (quality=m), then, for comparison in the same
# run, /watch/ROOM?mode=webrtc. The numbers are the watch page's own (window.glintWatch, sampled
# once a second by e2e/browser.mjs):
#   hls.glassToGlassMs  Date.now() - hls.playingDate: the EXT-X-PROGRAM-DATE-TIME of the frame on
#                       screen, which the server stamps when the frame arrives (publisher
#                       capture → server over loopback is not included)
#   hls.latency         hls.js's distance to the live edge of the playlist
#   latencyMs (WebRTC)  jitter-buffer delay + RTT/2 from getStats() (not glass-to-glass)
# BENCH_BASE=REV also builds REV (a git worktree, this tree's hls.min.js copied in) and measures
# it the same way, base first, in the same invocation, so that a change is compared within one
# run on a machine whose load varies (BENCH_BASE_BIN=PATH: REV already built there, hls.min.js in).
# Env: BENCH_SECONDS (HLS samples per page, default 30), BENCH_SIZE (source, default 1280x720),
# BENCH_PART / BENCH_SEGMENT (default 200ms / 2s), BENCH_RUNG (the watch page's quality menu
# value that picks a transcoded rung: m, the middle level, by default; l for a source with one
# rung below it, e.g. BENCH_SIZE=854x480).
set -euo pipefail
seconds=${BENCH_SECONDS:-30}
size=${BENCH_SIZE:-1280x720}
part=${BENCH_PART:-200ms}
segment=${BENCH_SEGMENT:-2s}
rung=${BENCH_RUNG:-m}
warmup=8 # samples left out at the start of each page (start-up, catching up with the live edge)
port=18090; udp=18199; room=glass
base=http://127.0.0.1:$port

[ -f web/static/vendor/hls.min.js ] || { echo "bench glass: web/static/vendor/hls.min.js missing: run make web" >&2; exit 1; }
[ -d e2e/node_modules/playwright-core ] || { echo "bench glass: e2e/node_modules missing: run scripts/install-deps.sh" >&2; exit 1; }
tmp=$(mktemp -d)
server=; demo=
cleanup() {
  kill $demo $server 2>/dev/null || true # both empty after a finished measure: kill fails, and set -e would end the trap with it
  wait 2>/dev/null || true
  [ -z "${BENCH_BASE:-}" ] || [ -n "${BENCH_BASE_BIN:-}" ] || git worktree remove --force "$tmp/base" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
if [ -n "${BENCH_BASE_BIN:-}" ]; then
  cp "$BENCH_BASE_BIN" "$tmp/glint-base"
elif [ -n "${BENCH_BASE:-}" ]; then
  git worktree add -q --detach "$tmp/base" "$BENCH_BASE"
  cp web/static/vendor/hls* "$tmp/base/web/static/vendor/"
  (cd "$tmp/base" && go build -o "$tmp/glint-base" ./cmd/glint)
fi

# measure BIN LABEL: one server and publisher; the HLS pages (source, rung), then WebRTC.
measure() {
  "$1" serve --http-addr 127.0.0.1:$port --udp-port $udp --ice-ip 127.0.0.1 --ice-tcp=false \
    --hls=true --hls-part "$part" --hls-segment "$segment" --rtmp-addr= --srt-addr= --log-level warn 2>"$tmp/$2.serve.log" &
  server=$!
  for _ in $(seq 100); do curl -fs $base/healthz >/dev/null && break; sleep 0.1; done
  "$1" demo --url $base/whip/$room --size "$size" --loopback --log-level warn 2>"$tmp/$2.demo.log" &
  demo=$!
  # The multivariant playlist answers once the ladder has its first segment.
  for _ in $(seq 60); do curl -fs -m 5 $base/hls/$room/index.m3u8 >/dev/null && break; sleep 1; done
  curl -fs -m 5 $base/hls/$room/index.m3u8 >/dev/null || { echo "bench glass: no LL-HLS stream"; tail "$tmp/$2.serve.log"; exit 1; } >&2
  local q
  for q in h "$rung"; do
    echo "bench glass ($2): $cmd_hls --query=quality=$q" >&2
    # A page that decoded nothing (e.g. the rung dropped by a saturated machine) is kept: its
    # rows say 0 samples and its last hls.js error.
    $cmd_hls --query=quality=$q >"$tmp/$2.$q.jsonl" 2>"$tmp/$2.$q.log" || { echo "bench glass ($2): quality=$q failed"; tail -n 5 "$tmp/$2.$q.log"; } >&2
  done
  echo "bench glass ($2): $cmd_rtc" >&2
  $cmd_rtc >"$tmp/$2.rtc.jsonl" 2>"$tmp/$2.rtc.log" || { tail -n 20 "$tmp/$2.rtc.log" "$tmp/$2.rtc.jsonl"; exit 1; } >&2
  kill $demo $server; wait $demo $server 2>/dev/null || true
  server=; demo=
}

cmd_hls="node e2e/browser.mjs watch $base/watch/$room --query=mode=hls --seconds=$((seconds + warmup))"
cmd_rtc="node e2e/browser.mjs watch $base/watch/$room --query=mode=webrtc --seconds=$((15 + warmup))"
labels=()
if [ -n "${BENCH_BASE:-}" ]; then
  measure "$tmp/glint-base" base
  labels+=("base:$BENCH_BASE ($(git rev-parse --short "$BENCH_BASE"))")
fi
measure "$GLINT_BIN" this
labels+=("this:this tree")

table=$(python3 - "$tmp" "$warmup" "$rung" "${labels[@]}" <<'PY'
import json, sys
tmp, warmup, rung = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sides = [l.split(':', 1) for l in sys.argv[4:]]
def samples(path, mode):
    out = []
    for line in open(path):
        s = json.loads(line)
        if s.get('t', 0) > warmup and s.get('mode') == mode:
            out.append(s)
    return out
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
def row(name, xs, unit):
    if not xs:
        return f'| {name} | 0 | – | – | – |'
    f = (lambda x: f'{x:.0f}') if unit == 'ms' else (lambda x: f'{x:.2f}')
    return f'| {name} | {len(xs)} | {f(pct(xs, 50))} {unit} | {f(pct(xs, 95))} {unit} | {f(max(xs))} {unit} |'
print('| build | measure | samples | p50 | p95 | max |')
print('|---|---|---|---|---|---|')
notes = []
for key, name in sides:
    for q, what in (('h', 'source rendition'), (rung, 'transcoded rung')):
        h = [s['hls'] for s in samples(f'{tmp}/{key}.{q}.jsonl', 'hls')]
        levels = sorted({f"{x['level']['height']}p" for x in h if x.get('level')})
        label = f'{name} | LL-HLS {what} ({", ".join(levels) or "–"})'
        print(row(f'{label} glass-to-glass: now − PROGRAM-DATE-TIME on screen', [x['glassToGlassMs'] for x in h if x.get('glassToGlassMs') is not None], 'ms'))
        print(row(f'{label} hls.latency', [x['latency'] for x in h if x.get('latency') is not None], 's'))
        print(row(f'{label} buffer ahead', [x['bufferS'] for x in h if x.get('bufferS') is not None], 's'))
        notes.append(f"{name}, {what}: hls.js target latency {h[-1].get('targetLatency') if h else '–'} s, last hls.js error: {(h[-1].get('error') if h else None) or '–'}")
    rtc = samples(f'{tmp}/{key}.rtc.jsonl', 'webrtc')
    print(row(f'{name} | WebRTC watch page latencyMs (jitter buffer + RTT/2)', [s['latencyMs'] for s in rtc if s.get('latencyMs') is not None], 'ms'))
print()
print('; '.join(notes))
PY
)
chromium=$(/usr/bin/chromium --version 2>/dev/null | head -1 || echo chromium)
cat <<MD
## LL-HLS glass-to-glass in Chromium (issues 5, 17)

\`$cmd_hls --query=quality=h\` (source rendition) and \`--query=quality=$rung\` (a transcoded rung),
then \`$cmd_rtc\` (same server and publisher, one after the other), against
\`glint serve --hls-part $part --hls-segment $segment\` with \`glint demo --size $size\`
(ffmpeg test pattern with a burned-in clock, H.264 over WHIP, 1 s GOP; default ladder), $chromium,
all on this machine in a loopback-only namespace.$([ -n "${BENCH_BASE:-}" ] && printf '%s' " With BENCH_BASE=$BENCH_BASE: that commit built and measured the same way first, in the same invocation.")
Samples: once a second, the first $warmup of each page left out.
Glass-to-glass here starts when the frame reaches the server (its PROGRAM-DATE-TIME), so it
leaves out capture, encode and the loopback hop of the publisher. Target (issue 17): p50 ≤ 0.8 s
on the source rendition, ≤ 0.9 s on a transcoded rung.

$table
MD
