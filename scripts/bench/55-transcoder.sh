#!/usr/bin/env bash
# Transcoder CPU for the default ladder vs the ffmpeg CLI doing the same ladder with the same
# encoder settings on the same input, alternating runs in one invocation (issue 5).
set -euo pipefail
seconds=${BENCH_TRANSCODER_SECONDS:-20}
rounds=${BENCH_TRANSCODER_ROUNDS:-3}
cmd="GLINT_TRANSCODER_CPU=1 GLINT_TRANSCODER_SECONDS=$seconds GLINT_TRANSCODER_ROUNDS=$rounds go test -count=1 -v -run '^TestLadderCPUVsFFmpeg\$' ./transcoder/"
echo "bench transcoder: $cmd" >&2
res=$(eval "$cmd" 2>&1) || { echo "$res" >&2; exit 1; }
echo "$res" >&2
logged=$(echo "$res" | grep -E 'bench_test.go:[0-9]+: ' | sed 's/^ *bench_test.go:[0-9]*: //')
ratio=$(echo "$logged" | sed -n 's/^ratio of medians: \([0-9.]*\);.*/\1/p')
speed=$(echo "$logged" | sed -n 's/.*real-time speed \([0-9.]*x\).*/\1/p')
cat <<MD
## Transcoder CPU vs the ffmpeg CLI (issue 5)

\`$cmd\`

A ${seconds} s 720p30 H.264 source (testsrc2, libx264 veryfast, no B-frames) through the
default ladder (passthrough + 480p + 360p, libx264 superfast/zerolatency, IDR every 2 s,
one decoder thread), in a child process, against the ffmpeg CLI doing the same ladder with
the same settings (the test checks that both encoders got the same x264 options), CPU
seconds from rusage, $rounds alternating rounds. Target ratio ≤ 1.05 and faster than real time.

| measure | result |
|---|---|
| CPU ratio glint / ffmpeg (medians) | $ratio |
| glint ladder real-time speed | $speed |

\`\`\`
$logged
\`\`\`
MD
