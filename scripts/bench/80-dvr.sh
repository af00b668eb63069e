#!/usr/bin/env bash
# DVR (issue 13): stored bytes vs the bytes the ladder made, what recording adds to an
# LL-HLS rendition's writer, part latency while the store is healthy, hung and down,
# playlist and clip times, recovery after kill -9.
set -euo pipefail
benches="go test -run='^\$' -bench='Recovery|SegmentFinished|WindowPlaylist6h|ClipPlaylist|ClipMP4' -benchmem -count=1 ./dvr/"
stored="go test -count=1 -v -run '^TestRecorderStoresEverySegment\$' ./dvr/"
stall="go test -count=1 -v -run '^TestS3StalledStoreKeepsLiveParts\$' ./dvr/"
kill9="go test -count=1 -v -run '^TestDVRSurvivesKill9\$' ./cmd/glint/"
for c in "$benches" "$stored" "$stall" "$kill9"; do echo "bench dvr: $c" >&2; done
b=$(eval "$benches"); echo "$b" >&2
s=$(eval "$stored"); echo "$s" >&2
st=$(eval "$stall"); echo "$st" >&2
k=$(eval "$kill9"); echo "$k" >&2
cat <<MD
## DVR: storage, cost on the live path, playlists, clips, recovery (issue 13)

\`$benches\`

| benchmark | time / op | B / op | allocs / op | other |
|---|---|---|---|---|
MD
echo "$b" | awk '/^Benchmark/ { other=""; for (i=5; i<=NF; i+=2) if ($(i+1) !~ /^(B|allocs)\/op$/) other=other $i " " $(i+1) " ";
  b="-"; a="-"; for (i=5; i<=NF; i+=2) { if ($(i+1)=="B/op") b=$i; if ($(i+1)=="allocs/op") a=$i }
  printf "| %s | %s ms | %s | %s | %s |\n", $1, sprintf("%.3f", $3/1e6), b, a, other }'
cat <<MD

- Recovery = \`Open\` on a data dir a crash left (6 h, 4 renditions of 2 s segments, torn tails);
  SegmentFinished = what recording adds to a rendition's writer goroutine per segment (the
  sink call, which only queues); WindowPlaylist6h = a 10,800-segment DVR window playlist;
  ClipPlaylist = what \`POST /api/rooms/{room}/clips\` waits for; ClipMP4 = a 10-minute clip
  remuxed (accurate=true: the first GOP re-encoded).

\`$stored\`: $(echo "$s" | grep -o 'stored [0-9]* bytes on disk.*' | head -1)

\`$stall\` (a real-time stream recorded into versitygw, the server healthy, then hung
with SIGSTOP, then killed; the sink calls and the part latency on the LL-HLS side):

\`\`\`
$(echo "$st" | grep -E 'sink calls|part latency|dropped segments' | sed 's/^ *//')
\`\`\`

\`$kill9\`: $(echo "$k" | grep -o 'recovery after kill -9.*' | head -1)
MD
