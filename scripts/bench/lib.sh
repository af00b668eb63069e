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

# start_peer CPUS LOG: runs the peer server $BENCH_PEER_BIN (MediaMTX, built from its source;
# not a Glint dependency) pinned to CPUS ("" for no pinning), WebRTC only unless PEER_HLS=yes:
# WHIP/WHEP on http://127.0.0.1:18889/{room}/whip|whep (media on UDP 18289, 127.0.0.1 only),
# LL-HLS (200 ms parts, 1 s segments) on http://127.0.0.1:18888/{room}/index.m3u8; sets $peer_pid
# and $peer_version. Returns 1 when BENCH_PEER_BIN is unset.
start_peer() {
  [ -n "${BENCH_PEER_BIN:-}" ] || return 1
  local cpus=$1 log=$2 pin=()
  [ -n "$cpus" ] && pin=(taskset -c "$cpus")
  peer_conf=$(mktemp --suffix=.yml)
  cat >"$peer_conf" <<YML
logLevel: warn
rtsp: no
rtmp: no
srt: no
api: no
metrics: no
pprof: no
playback: no
hls: ${PEER_HLS:-no}
hlsAddress: 127.0.0.1:18888
hlsAllowOrigins: ['*']
hlsAlwaysRemux: true
hlsVariant: lowLatency
hlsSegmentCount: 7
hlsSegmentDuration: 1s
hlsPartDuration: 200ms
webrtc: yes
webrtcAddress: 127.0.0.1:18889
webrtcAllowOrigins: ['*']
webrtcLocalUDPAddress: 127.0.0.1:18289
webrtcLocalTCPAddress: ''
webrtcIPsFromInterfaces: no
webrtcAdditionalHosts: [127.0.0.1]
paths:
  all_others:
YML
  peer_version=$("$BENCH_PEER_BIN" --version 2>/dev/null | head -1 || true)
  # In its own directory: it writes files there (a self-signed auto.crt / auto.key).
  peer_dir=$(mktemp -d)
  (cd "$peer_dir" && exec "${pin[@]}" "$BENCH_PEER_BIN" "$peer_conf") >"$log" 2>&1 &
  peer_pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18889/ && break; sleep 0.1; done
}

# stop_peer: stops the peer server start_peer started, if it runs.
stop_peer() {
  if [ -n "${peer_pid:-}" ]; then
    kill "$peer_pid" 2>/dev/null || true
    wait "$peer_pid" 2>/dev/null || true
  fi
  peer_pid=
  [ -n "${peer_conf:-}" ] && rm -f "$peer_conf"
  [ -n "${peer_dir:-}" ] && rm -rf "$peer_dir"
  peer_conf= peer_dir=
}
