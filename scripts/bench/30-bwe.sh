#!/usr/bin/env bash
# Simulcast and bandwidth estimation (issue 4): the BWE tests print what they measure.
set -euo pipefail
cmd="go test -count=1 -v -run '^TestBWE' ./signaling/"
echo "bench bwe: $cmd" >&2
res=$(eval "$cmd" 2>&1) || { echo "$res" >&2; exit 1; }
echo "$res" >&2
cat <<MD
## Simulcast and bandwidth estimation (issue 4)

\`$cmd\` (in-process: a three-layer publisher, l ~150 / m ~500 / h ~1600 kbit/s, PLI
answered; each viewer behind its own bottleneck, a rate-limited queue of 60 ms in front of
its socket). Targets: adapt down < 2 s, climb back < 10 s, 0 freezes per minute under 5%
loss. What the tests logged:

\`\`\`
$(echo "$res" | grep -E '_test.go:[0-9]+: ' | sed 's/^ *//')
$(echo "$res" | grep -E '^(--- |ok|FAIL)')
\`\`\`
MD
