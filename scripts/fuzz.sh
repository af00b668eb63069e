#!/usr/bin/env bash
# Runs every fuzz target in the tree (func Fuzz* in *_test.go) for FUZZTIME each (the first
# argument, default 10s), one at a time, and stops at the first failure. Each package's
# fuzzing test binary is built once for all of its targets. A failing input is kept under
# the package's testdata/fuzz/<Target>/, where plain `go test` replays it from then on:
# commit it with the fix, as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
cache=$(go env GOCACHE)/fuzz
dirs=$(grep -rl --include='*_test.go' --exclude-dir=node_modules '^func Fuzz' . | xargs -n1 dirname | sort -u)
[ -n "$dirs" ] || { echo "fuzz: no fuzz targets found"; exit 1; }
count=0
for dir in $dirs; do
  pkg=$(go list "$dir")
  exe="$bin/$(echo "$pkg" | tr / _).test"
  go test -c -fuzz=. -o "$exe" "$dir"
  for name in $(cd "$dir" && "$exe" -test.list '^Fuzz'); do
    echo "fuzz: $name in $pkg for $fuzztime"
    (cd "$dir" && "$exe" -test.run='^$' -test.fuzz="^$name\$" -test.fuzztime="$fuzztime" -test.fuzzcachedir="$cache/$pkg")
    count=$((count + 1))
  done
done
echo "fuzz: $count targets passed"
