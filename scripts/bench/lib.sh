# Shared by the scenarios in scripts/bench (sourced, not a scenario itself): the
# `glint serve` they measure, on loopback.
port=18080; udp=18189
server=

# start_glint CPUS LOG [serve flags...]: runs `glint serve` on 127.0.0.1:$port (media on
# UDP $udp, 127.0.0.1 only, no RTMP/SRT unless the flags say so) pinned to CPUS ("" for
# no pinning), its log in LOG; sets $server and waits until /healthz answers. Its data
# directory (DVR recordings, on by default with LL-HLS) is a fresh temporary one.
start_glint() {
  local cpus=$1 log=$2; shift 2
  local pin=()
  [ -n "$cpus" ] && pin=(taskset -c "$cpus")
  bench_data=$(mktemp -d)
  "${pin[@]}" "$GLINT_BIN" serve --http-addr 127.0.0.1:$port --udp-port $udp --ice-ip 127.0.0.1 \
    --ice-tcp=false --rtmp-addr= --srt-addr= --data-dir "$bench_data" --log-level warn "$@" 2>"$log" &
  server=$!
  for _ in $(seq 50); do curl -fs http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
}

# stop_glint: stops the server start_glint started, if it runs.
stop_glint() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  server=
  [ -n "${bench_data:-}" ] && rm -rf "$bench_data"
  bench_data=
}
