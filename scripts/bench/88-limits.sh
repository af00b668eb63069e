#!/usr/bin/env bash
# Limits (issue 16): one address floods WHEP offers while 20 viewers from other addresses join;
# the same flood with the default limits and with none, in one process.
set -euo pipefail
cmd="go test -run '^\$' -bench SignalingFlood -benchtime 1x ./cmd/glint/"
echo "bench limits: $cmd" >&2
out=$(eval "$cmd"); echo "$out" >&2
cat <<MD
## Limits under a signaling flood (issue 16)

\`$cmd\` (join = offer → first video packet):

| case | flood req/s | refused | join p50 | join p95 |
|---|---|---|---|---|
MD
echo "$out" | awk '/^BenchmarkSignalingFlood/ { f="-"; r="-"; p50="-"; p95="-"
  for (i=2; i<NF; i++) { if ($(i+1)=="flood-req/s") f=$i; if ($(i+1)=="refused-ratio") r=$i; if ($(i+1)=="join-p50-ms") p50=$i; if ($(i+1)=="join-p95-ms") p95=$i }
  printf "| %s | %s | %s | %s ms | %s ms |\n", $1, f, r, p50, p95 }'
