#!/usr/bin/env bash
# A viewer's per-packet congestion-control and RTCP costs (issue 12), each against pion's in
# the same invocation: the send history a transport-cc estimator keeps per outgoing packet
# (pion's gcc, pion's with sfu/attrlend.go's pooled attributes, Glint's sfu/gcc, and the pacer
# alone as the floor), the handling of transport-cc feedback (16 packets per feedback), and the
# walk of a viewer's receiver report / NACK compound (sfu/rtcpview.go vs pion's Unmarshal), a
# packet's whole send path with pion's TWCC header interceptor and with sfu/gcc numbering the
# packets itself, and a lossy viewer's NACK handling.
set -euo pipefail
cmd="go test -count=1 -run '^\$' -bench '^(BenchmarkGCCSendHistory|BenchmarkGCCFeedback|BenchmarkViewerRTCP|BenchmarkSendPath|BenchmarkRetransmit)\$' -benchmem ./sfu/"
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
\`--viewer-bwe gcc\`, which numbers the packets itself; \`pacer-only\`: the interceptor chain without an
estimator, the floor; the byte and allocation of every case but \`own\` are the 2-byte transport-wide
sequence extension that pion's TWCC header interceptor marshals per packet). \`GCCFeedback\`: one
transport-cc feedback of 16 packets, the sends included. \`ViewerRTCP\`: one receiver report + NACK
compound, walked in place against pion's ReadRTCP + Unmarshal. \`SendPath\`: one video packet from the
ring to the batched writer's queue (DownTrack, the viewer's interceptors, SRTP marshal + AES-128-GCM,
batchConn's copy; not pion's ICE write path), numbered by pion's TWCC header interceptor
(\`pion-twcc\`) or by sfu/gcc (\`own\`); its bytes per op are batchConn's pooled buffers refilled
after a GC (under a fraction of an allocation per packet). \`Retransmit\`: a round of 17 new packets
and a NACK of 17 sent ones (RTX into a discarding writer), \`ns/nacked\` per packet NACKed.
MD
