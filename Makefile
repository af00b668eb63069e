# Glint: `make run` installs what is missing, builds, and serves with a demo stream;
# `make test` runs every test (what .ci/run calls).
BIN := bin/glint
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all deps build run test bench fuzz clean

all: build

deps:
	./scripts/install-deps.sh

build:
	go build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/glint

run: deps build
	./scripts/run-demo.sh

test: deps
	./scripts/test.sh

clean:
	rm -rf bin

# Runs the standard benchmark scenarios (scripts/bench/*.sh) and rewrites BENCHMARKS.md;
# `make bench ONLY="edge bwe"` reruns only those sections.
bench: deps
	./scripts/bench.sh $(ONLY)
