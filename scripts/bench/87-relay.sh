#!/usr/bin/env bash
# Relays between nodes (issue 14): extra latency per hop (origin A → edge B → edge C, in-process
# nodes on loopback) and the CPU of a relay session against a viewer's.
set -euo pipefail
tree="go test -run '^TestRelayTree\$' -count=1 -v ./relay/"
cpu="go test -run '^\$' -bench BenchmarkSessionCPU -benchtime 5x ./relay/"
for c in "$tree" "$cpu"; do echo "bench relay: $c" >&2; done
t=$(eval "$tree"); echo "$t" >&2
c=$(eval "$cpu"); echo "$c" >&2
cat <<MD
## Relays between nodes: latency per hop, cost of a relay (issue 14)

\`$tree\`:

\`\`\`
$(echo "$t" | grep -E 'extra latency of the hop|capture→viewer' | sed -E 's/^\s+relay_test.go:[0-9]+: //')
\`\`\`

\`$cpu\` (8 sessions of each kind, node and receiving peer in one process):

\`\`\`
$(echo "$c" | grep -E '^Benchmark')
\`\`\`
MD
