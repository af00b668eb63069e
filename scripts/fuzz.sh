#!/usr/bin/env bash
# Runs every fuzz target in the tree (func Fuzz* in *_test.go) for FUZZTIME each (the first
# argument, default 10s), one at a time, and stops at the first failure. Each package's
# fuzzing test binary is built once for all of its targets. A failing input is kept under
# the package's testdata/fuzz/<Target>/, where plain `go test` replays it from then on:
# commit it with the fix, as a regression test.
#
# Go 1.26's fuzz coordinator can end a duration-bounded run with a bare "context deadline
# exceeded" at the -fuzztime boundary when a worker is slow to stop (golang/go#75804, fixed
# in Go 1.27): no input fails, none is written. Such a run is retried once; a run that fails
# any other way, or writes a failing input, fails at once.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
cache=$(go env GOCACHE)/fuzz
dirs=$(grep -rl --include='*_test.go' --exclude-dir=node_modules '^func Fuzz' . | xargs -n1 dirname | sort -u)
[ -n "$dirs" ] || { echo "fuzz: no fuzz targets found"; exit 1; }
log="$bin/run.log"

# run_target DIR EXE NAME CACHEDIR: fuzzes one target. Returns 0 when it passes, 1 when it
# failed only on the coordinator's deadline race (worth one retry); exits on a real failure.
run_target() {
  local corpus="$1/testdata/fuzz/$3" before after rc=0
  before=$(ls "$corpus" 2>/dev/null | wc -l)
  (cd "$1" && "$2" -test.run='^$' -test.fuzz="^$3\$" -test.fuzztime="$fuzztime" -test.fuzzcachedir="$4") 2>&1 | tee "$log" || rc=$?
  [ "$rc" -eq 0 ] && return 0
  after=$(ls "$corpus" 2>/dev/null | wc -l)
  if [ "$after" -eq "$before" ] && grep -q '^    context deadline exceeded$' "$log" && ! grep -q -e 'Failing input written' -e '^panic' "$log"; then
    return 1
  fi
  exit "$rc"
}

count=0
for dir in $dirs; do
  pkg=$(go list "$dir")
  exe="$bin/$(echo "$pkg" | tr / _).test"
  go test -c -fuzz=. -o "$exe" "$dir"
  for name in $(cd "$dir" && "$exe" -test.list '^Fuzz'); do
    echo "fuzz: $name in $pkg for $fuzztime"
    run_target "$dir" "$exe" "$name" "$cache/$pkg" || {
      echo "fuzz: $name stopped on the coordinator's deadline race with no failing input; once more"
      run_target "$dir" "$exe" "$name" "$cache/$pkg" || exit 1
    }
    count=$((count + 1))
  done
done
echo "fuzz: $count targets passed"
