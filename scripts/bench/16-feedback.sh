#!/usr/bin/env bash
# A viewer's per-packet congestion-control and RTCP costs (issue 12), each against pion's in
# the same invocation: the send history a transport-cc estimator keeps per outgoing packet
# (pion's gcc, pion's with sfu/attrlend.go's pooled attributes, Glint's sfu/gcc, and the pacer
# alone as the floor), the handling of transport-cc feedback (16 packets per feedback), and the
# walk of a viewer's receiver report / NACK compound (sfu/rtcpview.go vs pion's Unmarshal).
set -euo pipefail
cmd="go test -count=1 -run '^\$' -bench '^(BenchmarkGCCSendHistory|BenchmarkGCCFeedback|BenchmarkViewerRTCP)\$' -benchmem ./sfu/"
echo "bench feedback: $cmd" >&2
out=$(eval "$cmd"); echo "$out" >&2
cat <<MD
## A viewer's feedback path per packet: Glint's GCC and RTCP walk vs pion's (issue 12)

\`$cmd\` (load average $(cut -d' ' -f1-3 /proc/loadavg) after)

| case | ns / op | ns / packet | B / op | allocs / op |
|---|---|---|---|---|
MD
echo "$out" | awk '/^Benchmark/ { ns="-"; per="-"; b="-"; a="-"
  for (i=2; i<NF; i++) { if ($(i+1)=="ns/op") ns=$i; if ($(i+1)=="ns/packet") per=$i; if ($(i+1)=="B/op") b=$i; if ($(i+1)=="allocs/op") a=$i }
  name=$1; sub(/-[0-9]+$/, "", name)
  printf "| %s | %s | %s | %s | %s |\n", name, ns, per, b, a }'
cat <<MD

\`GCCSendHistory\`: per outgoing packet (\`history\`: pion's gcc; \`history-lent-attributes\`: the same
with sfu/attrlend.go's pooled attributes map, what \`--viewer-bwe transport-cc\` runs; \`own\`: sfu/gcc,
\`--viewer-bwe gcc\`; \`pacer-only\`: the interceptor chain without an estimator, the floor; its byte
and allocation are the benchmark's header extension, not an estimator's). \`GCCFeedback\`: one
transport-cc feedback of 16 packets, the sends included. \`ViewerRTCP\`: one receiver report + NACK
compound, walked in place against pion's ReadRTCP + Unmarshal.
MD
