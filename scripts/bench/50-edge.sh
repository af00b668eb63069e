#!/usr/bin/env bash
# Caching edge in front of the LL-HLS origin (issue 5): Varnish and nginx with the configs of
# docs/edge/, and pollers straight at the origin for comparison, all in one run (e2e
# TestEdgeBench: glint serve + glint demo, a counting proxy in front of the origin).
set -euo pipefail
cd "$(dirname "$0")/../.."
pollers=${BENCH_EDGE_POLLERS:-20,100,300}
secs=${BENCH_EDGE_SECONDS:-20}
cmd="GLINT_EDGE_BENCH=1 GLINT_EDGE_BENCH_POLLERS=$pollers GLINT_EDGE_BENCH_SECONDS=$secs go test -count=1 -timeout 30m -run '^TestEdgeBench\$' -v ./e2e/"
echo "bench edge: $cmd" >&2
log=$(mktemp); trap 'rm -f "$log"' EXIT
if ! GLINT_EDGE_BENCH=1 GLINT_EDGE_BENCH_POLLERS="$pollers" GLINT_EDGE_BENCH_SECONDS="$secs" \
  go test -count=1 -timeout 30m -run '^TestEdgeBench$' -v ./e2e/ >"$log" 2>&1; then
  tail -60 "$log" >&2
  exit 1
fi
grep -v '^EDGEBENCH ' "$log" | grep -E 'pollers:|^(---|ok|PASS)' >&2 || true
rows=$(sed -n 's/^EDGEBENCH //p' "$log")
varnishv=$(varnishd -V 2>&1 | sed -n "s/.*(\(varnish-[0-9.]*\).*/\1/p" | head -1)
nginxv=$(nginx -v 2>&1 | sed 's/.*: //')
cat <<MD
## Caching edge for LL-HLS: Varnish vs nginx (issue 5)

\`$cmd\` (inside a loopback-only namespace; $varnishv, $nginxv)

\`glint serve\` with LL-HLS (2 s segments, 333 ms parts) and \`glint demo\` publishing 320x180
into one room; N Go LL-HLS pollers of its media playlist, each following the preload hint
with a blocking reload (\`_HLS_msn/_HLS_part\`) and, at the same time, a request for the
hinted part, and downloading any listed part it lacks. They go through an edge
(docs/edge/varnish.vcl, docs/edge/nginx.conf, or that nginx.conf with
\`proxy_cache_lock off\`) or straight at the origin ("direct"); a counting reverse proxy in
front of Glint counts the requests that reach the origin per URL and notes when the origin
first answered each. Each row is one run of ${secs} s, one after the other against the same
origin; pollers, edges and origin share the machine's 2 cores.

- origin requests per part: origin requests for blocking playlists / for parts, divided by
  the new parts of the run (1.00 / 1.00 = every URL fetched once, however many pollers).
- added delay: for every blocking playlist and part a poller got, the time from the origin's
  first answer for that URL to the poller having the body; "collapsed" keeps only requests
  sent before the origin answered (those an edge holds while Glint blocks).
- parts every poller got: the parts of the stretch all pollers ran for; each poller got each.

| path | pollers | new parts | origin requests per part (playlist / part) | max origin requests for one URL | added delay p50 / p95 / max (ms) | collapsed requests p50 / p95 / max (ms) | parts every poller got | errors |
|---|---|---|---|---|---|---|---|---|
$rows
MD
