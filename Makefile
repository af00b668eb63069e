# Glint: `make run` installs what is missing, builds, and serves with a demo stream;
# `make test` runs every test (what .ci/run calls).
BIN := bin/glint
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all deps web build run test bench fuzz clean

all: build

deps:
	./scripts/install-deps.sh

# The watch page's LL-HLS player: hls.js from npm (web/package-lock.json), copied into
# web/static/vendor/ (git-ignored), which the binary embeds. A binary built without it still
# runs; its watch page then says that the LL-HLS player is not built.
web: web/static/vendor/hls.min.js

web/static/vendor/hls.min.js: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	cp web/node_modules/hls.js/dist/hls.min.js web/static/vendor/hls.min.js
	cp web/node_modules/hls.js/LICENSE web/static/vendor/hls.js.LICENSE.txt

build: web
	go build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/glint

run: deps build
	./scripts/run-demo.sh

test: deps web
	./scripts/test.sh

clean:
	rm -rf bin web/node_modules web/static/vendor/hls.min.js web/static/vendor/hls.js.LICENSE.txt

# Runs every fuzz target in the tree (func Fuzz* in *_test.go) for FUZZTIME each, one at a
# time, and stops at the first failure (scripts/fuzz.sh); go test keeps the failing input
# under the package's testdata/fuzz/, where plain `go test` replays it from then on.
# `make fuzz FUZZTIME=1m`. Each target's seed corpus is committed under its package's
# testdata/fuzz/<Target>/; CI (scripts/test.sh) runs every target for CI_FUZZTIME (2s).
FUZZTIME ?= 10s

fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

# Runs the standard benchmark scenarios (scripts/bench/*.sh) and rewrites BENCHMARKS.md;
# `make bench ONLY="edge bwe"` reruns only those sections.
bench: deps web
	./scripts/bench.sh $(ONLY)
