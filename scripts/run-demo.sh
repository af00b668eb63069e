#!/usr/bin/env bash
# Runs `glint serve` and the demo publisher into room "demo"; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/glint}
HTTP_ADDR=${GLINT_HTTP_ADDR:-:8080}
PORT=${HTTP_ADDR##*:}
"$BIN" serve "$@" &
SERVER=$!
trap 'kill $SERVER $DEMO 2>/dev/null; wait' INT TERM EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
"$BIN" demo --loopback --url "http://127.0.0.1:$PORT/whip/demo" &
DEMO=$!
echo
echo "Glint is running: open http://localhost:$PORT/ (demo room: http://localhost:$PORT/watch/demo)"
echo
wait $SERVER
