#!/usr/bin/env bash
# Cluster (issue 14): Redis operations per room and per 1,000 viewers (3 nodes, 100 rooms,
# counted by the server's INFO commandstats).
set -euo pipefail
cmd="go test -run '^\$' -bench RedisOps -benchtime 1x -v ./cluster/"
echo "bench cluster: $cmd" >&2
out=$(eval "$cmd"); echo "$out" >&2
line=$(echo "$out" | grep -m1 -E '^BenchmarkRedisOps.*cmds/s')
metric() { echo "$line" | awk -v u="$1" '{ for (i=2; i<NF; i++) if ($(i+1)==u) print $i }'; }
cat <<MD
## Cluster: Redis load (issue 14)

\`$cmd\` (a real redis-server, 3 nodes, 100 rooms, about 1,000 viewers per room):

| what | value |
|---|---|
| all commands | $(metric cmds/s) / s |
| lease renewal scripts | $(metric lease-scripts/s/room) / s per room |
| viewer-count commands | $(metric viewer-cmds/s/room/1000viewers) / s per room per 1,000 viewers |

$(echo "$out" | grep -o '[0-9]* rooms, [0-9]* nodes.*' | head -1)

Node heartbeats: 2 / s per node. A WHIP publish costs a GET and a lease script (one more to
release); a WHEP join costs nothing in Redis.
MD
