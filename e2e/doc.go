// Package e2e holds Glint's end-to-end tests: a real `glint serve` process driven by real,
// third-party clients running as separate processes — headless Chromium (through
// playwright-core, browser.mjs) on Glint's own /publish and /watch pages, a GStreamer webrtcbin
// WHIP publisher (gst_whip.py, the stand-in for OBS), `glint demo` (ffmpeg) — plus pion WHEP
// viewers and path-delaying TURN relays (pion/turn, turnrelay_test.go) in-process.
//
// Everything runs on 127.0.0.1 only, inside a loopback-only network namespace
// (scripts/test.sh: `unshare -n`). The tests need, and fail without: node and the npm packages of
// package-lock.json (`npm ci` in e2e/), /usr/bin/chromium, ffmpeg with libx264, and GStreamer
// with its Python bindings (/usr/bin/python3), varnishd, nginx and a C compiler (Varnish
// compiles its VCL) for the caching-edge tests; scripts/install-deps.sh installs them all.
// GLINT_BIN names a prebuilt glint binary; without it the tests build one. GLINT_E2E_LOG=1 logs
// the output of every child process (server, browsers, publishers), not only of failed tests.
// GLINT_SYNC_TARGETS=250ms,400ms,800ms runs the sync-room test at each target (default 400ms).
package e2e
