#!/usr/bin/env bash
# Runs every check and test: gofmt, go vet, then `go test -race` for all packages (unit,
# in-process pion peers, and e2e with Chromium, GStreamer and ffmpeg) inside a
# loopback-only network namespace, so that no test traffic can leave the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt: these files need formatting:"; echo "$unformatted"; exit 1
fi
go vet ./...
go build -o bin/glint ./cmd/glint

if ! unshare -n true 2>/dev/null; then
  echo "test: cannot create a network namespace (unshare -n needs root or CAP_SYS_ADMIN)" >&2
  exit 1
fi
export GOFLAGS=-mod=mod GOPROXY=off GLINT_BIN="$PWD/bin/glint"
# Everything under the race detector, except the full-rate bandwidth-estimation tests
# (TestBWE*): the race detector slows packet handling several-fold, which the delay-based
# estimator reads as congestion, so those run in a second pass without it. Their low-rate
# variants (TestLowRateBWE*, sfu/bwe_test.go) stay in the race pass, so that the estimator
# and the allocator are race-checked too.
unshare -n sh -c 'ip link set lo up && go test -race -count=1 -timeout 30m -skip "^TestBWE" "$@" &&
  exec go test -count=1 -timeout 10m -run "^TestBWE" "$@"' netns ./... "$@"
# Every fuzz target (make fuzz) for a short time over its committed corpus
# (testdata/fuzz/<Target>/, which the passes above also replay as regression tests).
unshare -n sh -c 'ip link set lo up && exec make -s fuzz FUZZTIME="$1"' netns "${CI_FUZZTIME:-2s}"
