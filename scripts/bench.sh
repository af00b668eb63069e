#!/usr/bin/env bash
# `make bench`: runs the standard benchmark scenarios and rewrites BENCHMARKS.md with their
# numbers. Each scenario is a script scripts/bench/NN-name.sh that prints one markdown
# section (its own "## Title", the command it ran, the numbers) on stdout and progress on
# stderr. BENCHMARKS.md keeps each section between <!-- bench:name --> markers, so
#   scripts/bench.sh              reruns every scenario and rewrites the whole file,
#   scripts/bench.sh edge bwe     reruns only those scenarios and replaces their sections.
# A scenario that fails keeps its section with a "failed" line and the tail of its log.
# Traffic stays on loopback: scenarios run inside a loopback-only network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
out=BENCHMARKS.md
export GOFLAGS=-mod=mod GOPROXY=off
go build -o bin/glint ./cmd/glint
export GLINT_BIN="$PWD/bin/glint"

scenarios=()
for f in scripts/bench/[0-9]*.sh; do
  name=$(basename "$f" .sh); name=${name#*-}
  if [ $# -eq 0 ] || printf '%s\n' "$@" | grep -qx "$name"; then scenarios+=("$f"); fi
done
[ ${#scenarios[@]} -gt 0 ] || { echo "bench: no scenario matches: $*" >&2; exit 1; }

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for f in "${scenarios[@]}"; do
  name=$(basename "$f" .sh); name=${name#*-}
  echo "bench: $name ($f)" >&2
  start=$(date +%s)
  if unshare -n sh -c 'ip link set lo up && exec bash "$1"' netns "$f" >"$tmp/$name.md" 2>"$tmp/$name.log"; then
    echo "bench: $name done in $(( $(date +%s) - start )) s" >&2
  else
    echo "bench: $name FAILED (log: tail below)" >&2; tail -20 "$tmp/$name.log" >&2
    { echo "## $name"; echo; echo "**failed** on $(date -u +%FT%TZ):"; echo '```'; tail -20 "$tmp/$name.log"; echo '```'; } >"$tmp/$name.md"
  fi
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
header() {
  cat <<HDR
# Glint benchmarks

Written by \`make bench\` (scripts/bench.sh; one script per section in scripts/bench/).
Machine: $(nproc) cores ("$cpu"), $(free -g | awk '/^Mem:/{print $2}') GiB, $(go version | cut -d' ' -f3),
$(. /etc/os-release; echo "$PRETTY_NAME"). The machine is shared and noisy: compare ratios within
one section (each runs its comparison in the same invocation), not absolute numbers across runs.
Each section says when it was last measured.
HDR
}

# Splice: keep sections that were not rerun, replace those that were, append new ones. Text
# written by hand after a section's end marker (an analysis of that section's numbers) stays
# after that section.
python3 - "$out" "$tmp" "$(header)" "${scenarios[@]}" <<'PY'
import os, re, sys, datetime
out, tmp, header, scripts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
order = [re.sub(r'^\d+-', '', os.path.basename(f)[:-3]) for f in sorted(os.listdir('scripts/bench')) if re.match(r'\d+-.*\.sh$', f)]
old = open(out).read() if os.path.exists(out) else ''
sections = dict(re.findall(r'<!-- bench:([\w-]+) -->\n(.*?)<!-- /bench:\1 -->', old, re.S))
by_hand = {name: text.strip() for name, text in
           re.findall(r'<!-- /bench:([\w-]+) -->\n(.*?)(?=<!-- bench:[\w-]+ -->|\Z)', old, re.S) if text.strip()}
stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
for f in scripts:
    name = re.sub(r'^\d+-', '', os.path.basename(f)[:-3])
    body = open(os.path.join(tmp, name + '.md')).read().rstrip() + '\n'
    sections[name] = body + f'\n_Measured {stamp} by `scripts/bench.sh {name}`._\n'
parts = [header.rstrip() + '\n']
for name in order:
    if name in sections:
        parts.append(f'<!-- bench:{name} -->\n{sections[name]}<!-- /bench:{name} -->\n')
        if name in by_hand:
            parts.append(by_hand[name] + '\n')
open(out, 'w').write('\n'.join(parts))
PY
echo "bench: wrote $out" >&2
