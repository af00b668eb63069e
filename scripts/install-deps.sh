#!/usr/bin/env bash
# Installs what Glint needs to build, run and test on Debian bookworm: Debian packages
# (only those missing, after apt-get update), the e2e npm packages and the Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  ffmpeg srt-tools pkg-config iproute2 curl ca-certificates varnish nginx-light
  redis-server
  chromium fonts-liberation fonts-dejavu-core
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-nice gstreamer1.0-libav
  python3-gst-1.0 gir1.2-gst-plugins-bad-1.0 gir1.2-gst-plugins-base-1.0
  libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libswscale-dev
  libswresample-dev libavdevice-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm (the e2e clients, hls.js for the watch page): Debian's packages only when
# there is no npm at all (a NodeSource nodejs already brings its own npm).
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ] || [ "${CI:-}" = "true" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-deps: apt-get update"
  $SUDO apt-get update -qq
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

if [ -f e2e/package.json ]; then
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
go mod download

# versitygw: the real S3 server (an S3 gateway over a local directory) that the dvr tests
# start to test the S3 store; installed into GOBIN (GOPATH/bin by default), where the tests
# look for it after PATH. Skipped when that binary is already this version.
VERSITYGW_VERSION=v1.8.0
gobin="$(go env GOBIN)"; [ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
if ! go version -m "$gobin/versitygw" 2>/dev/null |
  grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/versity/versitygw[[:space:]]+$VERSITYGW_VERSION[[:space:]]"; then
  echo "install-deps: installing versitygw $VERSITYGW_VERSION into $gobin"
  go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
fi
echo "install-deps: done"
