#!/usr/bin/env bash
# SFU forwarding cost per packet per viewer (issue 3): a Go benchmark, no sockets.
# BENCH_BASE=REV also runs the same benchmark built at REV, alternating with this tree's
# (base, this, base, this...), so that a change is compared within one run.
set -euo pipefail
count=${BENCH_FORWARD_COUNT:-5}
cmd="go test -run='^\$' -bench=Forward -benchmem -benchtime=100000x -count=$count ./sfu/"
echo "bench forwarding: $cmd" >&2
tmp=$(mktemp -d)
cleanup() { [ -n "${BENCH_BASE:-}" ] && git worktree remove --force "$tmp/base" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
go test -c -o "$tmp/this.test" ./sfu/
if [ -n "${BENCH_BASE:-}" ]; then
  git worktree add -q --detach "$tmp/base" "$BENCH_BASE"
  (cd "$tmp/base" && go test -c -o "$tmp/base.test" ./sfu/)
fi
run() { (cd sfu && "$1" -test.run='^$' -test.bench=Forward -test.benchmem -test.benchtime=100000x -test.count=1); }
: >"$tmp/this.txt"; : >"$tmp/base.txt"
for _ in $(seq $count); do
  [ -n "${BENCH_BASE:-}" ] && run "$tmp/base.test" >>"$tmp/base.txt"
  run "$tmp/this.test" >>"$tmp/this.txt"
done
cat "$tmp/this.txt" >&2
# medians NAME FILE: "name median-ns allocs" per benchmark of one side's runs.
medians() {
  awk '/^Benchmark/ { ns[$1]=ns[$1] " " $5; al[$1]=$9 } END { for (b in ns) print b, ns[b], "|", al[b] }' "$1" |
    while read -r name rest; do
      vals=${rest% | *}; allocs=${rest##* | }
      med=$(printf '%s\n' $vals | sort -g | awk '{ v[NR]=$1 } END { print v[int((NR+1)/2)] }')
      echo "$name $med $allocs"
    done | sort
}
cat <<MD
## SFU forwarding cost (issue 3)

\`$cmd\`$([ -n "${BENCH_BASE:-}" ] && printf '%s' " — with BENCH_BASE=$BENCH_BASE ($(git rev-parse --short "$BENCH_BASE")): the same benchmark built at that commit, run alternately with this tree's in the same invocation")

The SFU's own per-packet work per viewer (ring read, keyframe/epoch checks, layer choice,
sequence/timestamp rewrite, the write call into a discarding writer; SRTP and the socket
are not included). 1,100-byte packets. Target: 0 allocations per packet per viewer.

MD
if [ -n "${BENCH_BASE:-}" ]; then
  echo "Median of $count runs each, base and this tree alternating."
  echo
  echo "| benchmark | base ns / packet / viewer | this tree | this / base | allocs / op (base, this) |"
  echo "|---|---|---|---|---|"
  join <(medians "$tmp/base.txt") <(medians "$tmp/this.txt") |
    awk '{ printf "| %s | %s | %s | %.2f | %s, %s |\n", $1, $2, $4, $4/$2, $3, $5 }'
else
  echo "Median of $count runs."
  echo
  echo "| benchmark | ns / packet / viewer | allocs / op |"
  echo "|---|---|---|"
  medians "$tmp/this.txt" | awk '{ printf "| %s | %s | %s |\n", $1, $2, $3 }'
fi
