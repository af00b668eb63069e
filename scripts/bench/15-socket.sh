#!/usr/bin/env bash
# The media socket's egress (issue 12): one sendto per packet against the batched sender
# (sendmmsg from one writer, UDP GSO for each viewer's run of equal-size packets), 1200-byte
# packets to 50 loopback receivers in bursts of 1 (paced), 8 (a frame) and 40 (a keyframe).
set -euo pipefail
cmd="go test -run '^\$' -bench BenchmarkSocketSend -benchtime 2s -count 3 ./sfu/"
echo "bench socket: $cmd" >&2
out=$(eval "$cmd"); echo "$out" >&2
cat <<MD
## Media socket egress: sendto vs sendmmsg + UDP GSO (issue 12)

\`$cmd\` (cpu-ns/op = the process's CPU per packet, the loopback receivers included: on
loopback the stack's receive side runs in the sender's context too):

| case | ns / op (wall) | cpu-ns / op |
|---|---|---|
MD
echo "$out" | awk '/^BenchmarkSocketSend/ { ns="-"; cpu="-"
  for (i=2; i<NF; i++) { if ($(i+1)=="ns/op") ns=$i; if ($(i+1)=="cpu-ns/op") cpu=$i }
  printf "| %s | %s | %s |\n", $1, ns, cpu }'
cat <<MD

\`glint serve --udp-batch-send=false\` restores one sendto per packet; \`glint_udp_send_calls_total\`
and \`glint_udp_sent_packets_total\` show the packets per system call of a running node.
MD
