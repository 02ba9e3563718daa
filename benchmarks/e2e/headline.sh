#!/usr/bin/env bash
# The headline job (issue 11): SD 1.5 full EMA fp32 ckpt (7.70 GB) -> no-EMA fp16 safetensors (2.13 GB), for one
# or more builds of the tool, interleaved with the single-threaded limit probe and the disk's own O_DIRECT write
# rate (dd of the same 2.13 GB), median of ROUNDS rounds. Each run starts from the same state: previous output
# deleted, writeback settled (sync, SETTLE seconds), the input read once so it is in the page cache.
#   benchmarks/e2e/headline.sh WORKDIR NAME=PATH_TO_SAFECKPT [NAME=PATH ...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
shared=${SHARED:-$here/../../../shared/bench}
work=${1:?usage: headline.sh WORKDIR NAME=SAFECKPT ...}; shift
rounds=${ROUNDS:-3}
cd "$work"
[ -f sd15.ckpt ] || { echo "no $work/sd15.ckpt: /usr/bin/python3 $shared/make_ckpt.py $work/sd15.ckpt --ema --lightning"; exit 1; }
[ -x limit_f16c ] || cc -O3 -mavx2 -mf16c "$shared/limit_f16c.c" -o limit_f16c
jobs=("limit|./limit_f16c sd15.ckpt out_limit 4265000000" "dd O_DIRECT|dd if=/dev/zero of=out_dd bs=8M count=254 oflag=direct status=none")
for t in "$@"; do jobs+=("${t%%=*}|${t#*=} convert sd15.ckpt out_${t%%=*}.safetensors --dtype fp16 --no-ema"); done
declare -A wall rss
for r in $(seq "$rounds"); do
  for j in "${jobs[@]}"; do
    name=${j%%|*}; cmd=${j#*|}
    out=$(echo "$cmd" | grep -oE '(of=)?out_[^ ]*' | sed 's/^of=//')
    rm -f "$out"; sync; sleep "${SETTLE:-3}"; cat sd15.ckpt > /dev/null
    /usr/bin/time -f "%e %M" -o t.txt bash -c "$cmd" >/dev/null 2>&1
    read -r w m < t.txt
    wall[$name]+="$w "; rss[$name]+="$m "
    echo "round $r  $name: ${w}s ${m}KB  (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  done
done
rm -f out_*
limit=$(echo "${wall[limit]}" | median)
echo "| run | wall s (median of $rounds) | all runs | peak RSS MB | wall / limit probe |"
echo "|---|---|---|---|---|"
for j in "${jobs[@]}"; do
  name=${j%%|*}; w=$(echo "${wall[$name]}" | median); m=$(echo "${rss[$name]}" | median)
  echo "| $name | $w | ${wall[$name]% } | $(awk "BEGIN{printf \"%.0f\", $m/1024}") | $(awk "BEGIN{printf \"%.2f\", $w/$limit}") |"
done
