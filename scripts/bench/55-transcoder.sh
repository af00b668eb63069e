#!/usr/bin/env bash
# Transcoder CPU for the default ladder vs the ffmpeg CLI doing the same ladder with the same
# encoder settings on the same input, alternating runs in one invocation (issue 5), for an
# H.264 source, an H.265 source over SRT/RTMP (issue 17: re-encoder + ladder), an H.265 WHIP
# room and an AV1 source (issue 17: the source passed through, one decode, three H.264 encodes).
set -euo pipefail
seconds=${BENCH_TRANSCODER_SECONDS:-20}
rounds=${BENCH_TRANSCODER_ROUNDS:-3}

# measure TEST: runs one CPU comparison test and sets cmd, logged, ratio and speed.
measure() {
	cmd="GLINT_TRANSCODER_CPU=1 GLINT_TRANSCODER_SECONDS=$seconds GLINT_TRANSCODER_ROUNDS=$rounds go test -count=1 -v -run '^$1\$' ./transcoder/"
	echo "bench transcoder: $cmd" >&2
	res=$(eval "$cmd" 2>&1) || { echo "$res" >&2; exit 1; }
	echo "$res" >&2
	logged=$(echo "$res" | grep -E 'bench_test.go:[0-9]+: ' | sed 's/^ *bench_test.go:[0-9]*: //')
	ratio=$(echo "$logged" | sed -n 's/^ratio of medians: \([0-9.]*\);.*/\1/p')
	speed=$(echo "$logged" | sed -n 's/.*real-time speed \([0-9.]*x\).*/\1/p')
}

measure TestLadderCPUVsFFmpeg
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

measure TestHEVCLadderCPUVsFFmpeg
cat <<MD

## H.265 source: transcoder CPU vs the ffmpeg CLI (issue 17)

\`$cmd\`

A ${seconds} s 720p30 H.265 source (testsrc2, libx265 ultrafast with its B-frames, GOP 60)
through what Glint does with an H.265 SRT stream: the re-encoder (one-thread H.265 decode →
720p H.264 constrained baseline, veryfast/zerolatency, 2.5 Mb/s, IDR every 2 s) whose output
feeds the default ladder (passthrough of that H.264 + 480p + 360p). The ffmpeg CLI decodes
the H.265 once into the same three encodes, so Glint's extra work is the ladder's second
decode (of the 720p H.264). CPU seconds from rusage, $rounds alternating rounds.

| measure | result |
|---|---|
| CPU ratio glint / ffmpeg (medians) | $ratio |
| glint real-time speed | $speed |

\`\`\`
$logged
\`\`\`
MD

measure TestHEVCPassLadderCPUVsFFmpeg
cat <<MD

## H.265 WHIP room: one decode, source passed through (issue 17)

\`$cmd\`

The same ${seconds} s 720p30 H.265 source through what the HLS bridge does with an H.265 room
(WHIP): the source passed through as the \`source\` rendition (hvc1), one H.265 decode (one
thread) and three H.264 encodes from it — the source's size (720p, 2.5 Mb/s), 480p, 360p
(libx264 superfast/zerolatency/main) — against the ffmpeg CLI copying the source and decoding
it once into the same three encodes. CPU seconds from rusage, $rounds alternating rounds.
Target ratio ≤ 1.05.

| measure | result |
|---|---|
| CPU ratio glint / ffmpeg (medians) | $ratio |
| glint real-time speed | $speed |

\`\`\`
$logged
\`\`\`
MD

measure TestHEVCNativeIngestCPUVsFFmpeg
cat <<MD

## H.265 over SRT/RTMP sent natively: one decode (issue 17)

\`$cmd\`

A ${seconds} s 720p30 H.265 source without B-frames (libx265 ultrafast, bframes=0, GOP 60), as
ingest publishes it natively when LL-HLS runs: the room's ladder passes it through, decodes
it once (one thread) and encodes the source's size (constrained baseline, 2.5 Mb/s: also the
room's alternate WebRTC video), 480p and 360p (libx264 superfast/zerolatency/main), against
the ffmpeg CLI copying the source and decoding it once into the same three encodes. CPU
seconds from rusage, $rounds alternating rounds. Target ratio ≤ 1.05 (the re-encode at ingest
it replaces: the H.265 section above).

| measure | result |
|---|---|
| CPU ratio glint / ffmpeg (medians) | $ratio |
| glint real-time speed | $speed |

\`\`\`
$logged
\`\`\`
MD

measure TestAV1LadderCPUVsFFmpeg
cat <<MD

## AV1 source: transcoder CPU vs the ffmpeg CLI (issue 17)

\`$cmd\`

A ${seconds} s 720p30 AV1 source (testsrc2, libaom-av1 real-time, cpu-used 8, GOP 60, IVF)
through what the HLS bridge does with an AV1 WHIP room: the source passed through (av01),
one libdav1d decode (one thread) and three H.264 encodes (the source size at 2.5 Mb/s, 480p,
360p; libx264 superfast/zerolatency/main), against the ffmpeg CLI doing the same
(\`-c:v copy\` of the source, \`-threads 1 -c:v libdav1d\`, the same x264 options). CPU
seconds from rusage, $rounds alternating rounds.

| measure | result |
|---|---|
| CPU ratio glint / ffmpeg (medians) | $ratio |
| glint real-time speed | $speed |

\`\`\`
$logged
\`\`\`
MD
