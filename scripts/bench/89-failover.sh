#!/usr/bin/env bash
# Failover (issue 14): recovery after the loss of an edge node (kill -9 of B with six Go
# viewers following the watch page's reconnect rules and one Chromium watch page on it) and
# a Redis restart mid-stream (viewers on the origin and on an edge through a relay), both
# e2e tests on three `glint serve` processes and a real redis-server.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmd="go test -count=1 -timeout 10m -run '^(TestClusterEdgeKill|TestClusterRedisRestartKeepsViewers)\$' -v ./e2e/"
echo "bench failover: $cmd" >&2
log=$(mktemp); trap 'rm -f "$log"' EXIT
if ! eval "$cmd" >"$log" 2>&1; then
  tail -60 "$log" >&2
  exit 1
fi
grep -E '^(---|ok|PASS)' "$log" >&2 || true
lines() { grep -E "$1" "$log" | sed -E 's/^\s+cluster_edge_test.go:[0-9]+: //'; }
cat <<MD
## Failover: edge loss and Redis loss (issue 14)

\`$cmd\` (inside a loopback-only namespace): three \`glint serve\` nodes (A, B, C) on one
redis-server with a cluster secret, \`glint demo\` (320x180, 30 fps, a keyframe a second)
publishing on A.

- **Edge kill**: six Go viewers (\`client.PlayWithFailover\`: the watch page's rules; three are
  told of C first, the others know the nodes from \`GET /api/nodes\`, A first) and one Chromium
  watch page (\`?nodes=\` C, A) play from B through its relay; B gets SIGKILL. Per viewer: the time from the kill to the first whole
  keyframe received from the node it moved to (everything it received there is then decoded
  by ffprobe without an error); the page is sampled once a second, so its time is an upper
  bound. Target < 3 s.

\`\`\`
$(lines 'edge kill: ')
\`\`\`

- **Redis restart**: four viewers (two on A, two on B through a relay); redis-server is
  killed, stays down 4 s, and restarts empty. Dropped viewers (a session lost or replaced),
  and the time from Redis answering again to a new viewer on C (a new cross-node relay)
  being answered (0 to 2 s: the origin's next lease renewal and heartbeat, each every 2 s by
  default, write its claim and its registry entry back); while Redis is down that viewer gets
  \`503 cluster directory unavailable\`.

\`\`\`
$(lines 'redis restart: ')
\`\`\`
MD
