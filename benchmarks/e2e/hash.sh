#!/usr/bin/env bash
# civitai's six hashes against sha256sum alone (the issue-13 bar: at most 0.3x its time) and b3sum, on each FILE,
# interleaved round by round, with the file in the page cache (read once before each run) and SafeCkpt's cache off.
# Each line of the output is one run; the table gives the median of ROUNDS and the ratio to sha256sum of that round.
#   benchmarks/e2e/hash.sh SAFECKPT FILE [FILE ...]        (ROUNDS=3 by default)
set -euo pipefail
tool=${1:?usage: hash.sh SAFECKPT FILE...}; shift
rounds=${ROUNDS:-3}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t=$(mktemp)
echo "| file | round | load (1 min) | sha256sum s | b3sum s | safeckpt hash s | safeckpt / sha256sum |"
echo "|---|---|---|---|---|---|---|"
for f in "$@"; do
  declare -A all=()
  for r in $(seq "$rounds"); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    for job in sha256sum b3sum safeckpt; do
      case $job in
        sha256sum) cmd=(sha256sum "$f") ;;
        b3sum) cmd=(b3sum "$f") ;;
        safeckpt) cmd=("$tool" hash "$f" --no-cache -q) ;;
      esac
      cat "$f" > /dev/null
      /usr/bin/time -f "%e" -o "$t" "${cmd[@]}" > /dev/null
      all[$job]+="$(cat "$t") "
    done
    read -r s b c <<< "$(echo "${all[sha256sum]}" | awk '{print $NF}') $(echo "${all[b3sum]}" | awk '{print $NF}') $(echo "${all[safeckpt]}" | awk '{print $NF}')"
    echo "| $(basename "$f") | $r | $load | $s | $b | $c | $(awk "BEGIN{printf \"%.2f\", $c/$s}") |"
  done
  s=$(echo "${all[sha256sum]}" | median); b=$(echo "${all[b3sum]}" | median); c=$(echo "${all[safeckpt]}" | median)
  echo "| $(basename "$f") | median | | $s | $b | $c | $(awk "BEGIN{printf \"%.2f\", $c/$s}") |"
  unset all
done
rm -f "$t"
