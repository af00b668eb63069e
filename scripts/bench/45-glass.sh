#!/usr/bin/env bash
# LL-HLS glass-to-glass in Chromium (issue 5): `glint demo` publishes over WHIP into `glint serve`
# with LL-HLS on; Chromium plays /watch/ROOM?mode=hls (hls.js, lowLatencyMode) and then, for
# comparison in the same run, /watch/ROOM?mode=webrtc. The numbers are the watch page's own
# (window.glintWatch, sampled once a second by e2e/browser.mjs):
#   hls.glassToGlassMs  Date.now() - hls.playingDate: the EXT-X-PROGRAM-DATE-TIME of the frame on
#                       screen, which the server stamps when the frame arrives (publisher
#                       capture → server over loopback is not included)
#   hls.latency         hls.js's distance to the live edge of the playlist
#   latencyMs (WebRTC)  jitter-buffer delay + RTT/2 from getStats() (not glass-to-glass)
# Env: BENCH_SECONDS (HLS samples, default 30), BENCH_SIZE (source, default 1280x720),
# BENCH_PART / BENCH_SEGMENT (default 333ms / 2s).
set -euo pipefail
seconds=${BENCH_SECONDS:-30}
size=${BENCH_SIZE:-1280x720}
part=${BENCH_PART:-333ms}
segment=${BENCH_SEGMENT:-2s}
warmup=8 # samples left out at the start of each page (start-up, catching up with the live edge)
port=18090; udp=18199; room=glass
base=http://127.0.0.1:$port

[ -f web/static/vendor/hls.min.js ] || { echo "bench glass: web/static/vendor/hls.min.js missing: run make web" >&2; exit 1; }
[ -d e2e/node_modules/playwright-core ] || { echo "bench glass: e2e/node_modules missing: run scripts/install-deps.sh" >&2; exit 1; }
tmp=$(mktemp -d)
"$GLINT_BIN" serve --http-addr 127.0.0.1:$port --udp-port $udp --ice-ip 127.0.0.1 --ice-tcp=false \
  --hls=true --hls-part "$part" --hls-segment "$segment" --rtmp-addr= --srt-addr= --log-level warn 2>"$tmp/serve.log" &
server=$!
demo=
trap 'kill $demo $server 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do curl -fs $base/healthz >/dev/null && break; sleep 0.1; done
"$GLINT_BIN" demo --url $base/whip/$room --size "$size" --loopback --log-level warn 2>"$tmp/demo.log" &
demo=$!
# The multivariant playlist answers once the ladder has its first segment.
for _ in $(seq 60); do curl -fs -m 5 $base/hls/$room/index.m3u8 >/dev/null && break; sleep 1; done
curl -fs -m 5 $base/hls/$room/index.m3u8 >/dev/null || { echo "bench glass: no LL-HLS stream"; tail "$tmp/serve.log"; exit 1; } >&2

cmd_hls="node e2e/browser.mjs watch $base/watch/$room --query=mode=hls --seconds=$((seconds + warmup))"
cmd_rtc="node e2e/browser.mjs watch $base/watch/$room --query=mode=webrtc --seconds=$((15 + warmup))"
echo "bench glass: $cmd_hls" >&2
$cmd_hls >"$tmp/hls.jsonl" 2>"$tmp/hls.log" || { tail -20 "$tmp/hls.log" "$tmp/hls.jsonl"; exit 1; } >&2
echo "bench glass: $cmd_rtc" >&2
$cmd_rtc >"$tmp/rtc.jsonl" 2>"$tmp/rtc.log" || { tail -20 "$tmp/rtc.log" "$tmp/rtc.jsonl"; exit 1; } >&2

table=$(python3 - "$tmp/hls.jsonl" "$tmp/rtc.jsonl" "$warmup" <<'PY'
import json, sys
def samples(path, warmup):
    out = []
    for line in open(path):
        s = json.loads(line)
        if s.get('t', 0) > warmup:
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
warmup = int(sys.argv[3])
hls, rtc = samples(sys.argv[1], warmup), samples(sys.argv[2], warmup)
h = [s['hls'] for s in hls if s.get('mode') == 'hls']
print('| measure | samples | p50 | p95 | max |')
print('|---|---|---|---|---|')
print(row('LL-HLS (hls.js) glass-to-glass: now − PROGRAM-DATE-TIME on screen', [x['glassToGlassMs'] for x in h if x.get('glassToGlassMs') is not None], 'ms'))
print(row('LL-HLS hls.latency (behind the playlist\'s live edge)', [x['latency'] for x in h if x.get('latency') is not None], 's'))
print(row('LL-HLS buffer ahead', [x['bufferS'] for x in h if x.get('bufferS') is not None], 's'))
print(row('WebRTC watch page latencyMs (jitter buffer + RTT/2)', [s['latencyMs'] for s in rtc if s.get('mode') == 'webrtc' and s.get('latencyMs') is not None], 'ms'))
levels = sorted({f"{x['level']['height']}p" for x in h if x.get('level')})
print()
print(f"LL-HLS levels played: {', '.join(levels) or '–'}; last hls.js error: {(h[-1].get('error') if h else None) or '–'}")
PY
)
chromium=$(/usr/bin/chromium --version 2>/dev/null | head -1 || echo chromium)
cat <<MD
## LL-HLS glass-to-glass in Chromium (issue 5)

\`$cmd_hls\`, then \`$cmd_rtc\` (same server and publisher, one after the other), against
\`glint serve --hls-part $part --hls-segment $segment\` with \`glint demo --size $size\`
(ffmpeg test pattern, H.264 over WHIP; default ladder), $chromium, all on this machine
in a loopback-only namespace. Samples: once a second, the first $warmup of each page left out.
Glass-to-glass here starts when the frame reaches the server (its PROGRAM-DATE-TIME), so it
leaves out capture, encode and the loopback hop of the publisher. Target: < 2 s.

$table
MD
