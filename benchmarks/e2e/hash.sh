#!/usr/bin/env bash
# civitai's six hashes against sha256sum alone (the issue-13 bar: at most 0.3x its time) and b3sum, on each FILE,
# interleaved round by round, with the file in the page cache (read once before each run) and SafeCkpt's cache off.
# One line per round (ratios to that round's sha256sum), then the medians.
#   benchmarks/e2e/hash.sh NAME=SAFECKPT [NAME=SAFECKPT ...] FILE [FILE ...]        (ROUNDS=3 by default)
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
tools=(); files=()
for a in "$@"; do if [[ $a == *=* ]]; then tools+=("$a"); else files+=("$a"); fi; done
[ ${#tools[@]} -gt 0 ] && [ ${#files[@]} -gt 0 ] || { echo "usage: hash.sh NAME=SAFECKPT... FILE..."; exit 1; }
rounds=${ROUNDS:-3}
t=$(mktemp); declare -A last=()
head="| file | round | load (1 min) | sha256sum s | b3sum s |"; rule="|---|---|---|---|---|"
for tool in "${tools[@]}"; do head+=" ${tool%%=*} s | / sha256sum |"; rule+="---|---|"; done
echo "$head"; echo "$rule"
for f in "${files[@]}"; do
  declare -A all=()
  for r in $(seq "$rounds"); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    jobs=("sha256sum|sha256sum $f" "b3sum|b3sum $f")
    for tool in "${tools[@]}"; do jobs+=("${tool%%=*}|${tool#*=} hash $f --no-cache -q"); done
    line="| $(basename "$f") | $r | $load |"
    for j in "${jobs[@]}"; do
      name=${j%%|*}
      cat "$f" > /dev/null
      /usr/bin/time -f "%e" -o "$t" bash -c "${j#*|}" > /dev/null
      all[$name]+="$(cat "$t") "; last[$name]=$(cat "$t")
    done
    line+=" ${last[sha256sum]} | ${last[b3sum]} |"
    for tool in "${tools[@]}"; do n=${tool%%=*}; line+=" ${last[$n]} | $(awk "BEGIN{printf \"%.2f\", ${last[$n]}/${last[sha256sum]}}") |"; done
    echo "$line"
  done
  s=$(echo "${all[sha256sum]}" | median)
  line="| $(basename "$f") | median | | $s | $(echo "${all[b3sum]}" | median) |"
  for tool in "${tools[@]}"; do n=${tool%%=*}; c=$(echo "${all[$n]}" | median); line+=" $c | $(awk "BEGIN{printf \"%.2f\", $c/$s}") |"; done
  echo "$line"
  unset all
done
rm -f "$t"
