#!/usr/bin/env bash
# End-to-end runs of SafeCkpt against the two yardsticks in ../shared/bench, in one session, interleaved, median of
# ROUNDS runs each (warm page cache). Prints a markdown table of wall time, peak RSS and ratios.
#   benchmarks/e2e/run.sh WORKDIR      (WORKDIR holds sd15.ckpt from `make_ckpt.py sd15.ckpt --ema --lightning`)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
root=$(cd "$here/../.." && pwd)
shared=${SHARED:-$root/../shared/bench}
work=${1:?usage: run.sh WORKDIR}
rounds=${ROUNDS:-3}
cd "$work"
[ -f sd15.ckpt ] || { echo "no $work/sd15.ckpt: /usr/bin/python3 $shared/make_ckpt.py $work/sd15.ckpt --ema --lightning"; exit 1; }
[ -x limit_f16c ] || cc -O3 -mavx2 -mf16c "$shared/limit_f16c.c" -o limit_f16c
dotnet publish "$root/src/SafeCkpt.Cli" -c Release -o "$work/sc" >/dev/null
[ -f ref_f16.safetensors ] || ./sc/safeckpt convert sd15.ckpt ref_f16.safetensors --dtype fp16 --no-ema >/dev/null
f16_bytes=$(stat -c %s ref_f16.safetensors)

# name | command (output file last word is removed before each run)
jobs=(
  "A limit|./limit_f16c sd15.ckpt out_limit 4265000000"
  "A safeckpt|./sc/safeckpt convert sd15.ckpt out_a.safetensors --dtype fp16 --no-ema"
  "A python|/usr/bin/python3 $shared/py_convert.py sd15.ckpt out_pa.safetensors"
  "B safeckpt|./sc/safeckpt convert sd15.ckpt out_b.ckpt --dtype fp16 --no-ema"
  "B python|/usr/bin/python3 $shared/py_convert.py sd15.ckpt out_pb.ckpt"
  "C limit|./limit_f16c sd15.ckpt out_limit_c $((2 * f16_bytes))"
  "C limit-in|./limit_f16c ref_f16.safetensors out_limit_ci $f16_bytes"
  "C safeckpt|./sc/safeckpt convert ref_f16.safetensors out_c.safetensors --dtype bf16"
  "C python|/usr/bin/python3 $here/py_st_to_bf16.py ref_f16.safetensors out_pc.safetensors"
)
declare -A wall rss
for r in $(seq "$rounds"); do
  for j in "${jobs[@]}"; do
    name=${j%%|*}; cmd=${j#*|}
    out=$(echo "$cmd" | awk '{for(i=1;i<=NF;i++) if ($i ~ /^out_/) print $i}')
    # Each command starts from the same state: the previous output deleted and written back, writeback settled, and
    # its input read once so it is in the page cache (the Python runs use 10 GB and evict part of it).
    input=$(echo "$cmd" | awk '{for(i=1;i<=NF;i++) if ($i ~ /(sd15\.ckpt|ref_f16\.safetensors)$/) {print $i; exit}}')
    rm -f "$out"; sync; sleep "${SETTLE:-3}"; cat "$input" > /dev/null
    /usr/bin/time -f "%e %M" -o t.txt $cmd >/dev/null 2>&1
    read -r w m < t.txt
    wall[$name]+="$w "; rss[$name]+="$m "
    echo "round $r  $name: ${w}s ${m}KB" >&2
  done
done
echo "| job | tool | wall s (median of $rounds) | peak RSS MB | wall / limit | wall / python |"
echo "|---|---|---|---|---|---|"
for job in A B C; do
  limit=$(echo "${wall["$job limit"]:-${wall["A limit"]}}" | median)
  py=$(echo "${wall["$job python"]}" | median)
  for tool in limit limit-in safeckpt python; do
    [ -n "${wall["$job $tool"]:-}" ] || continue
    w=$(echo "${wall["$job $tool"]}" | median); m=$(echo "${rss["$job $tool"]}" | median)
    echo "| $job | $tool | $w | $(awk "BEGIN{printf \"%.0f\", $m/1024}") | $(awk "BEGIN{printf \"%.2f\", $w/$limit}") | $(awk "BEGIN{printf \"%.2f\", $w/$py}") |"
  done
done
echo
echo "A: SD 1.5 full EMA fp32 ckpt (7.70 GB) -> no-EMA fp16 safetensors (2.13 GB); B: the same job written as ckpt;"
echo "C: that fp16 safetensors -> bf16 safetensors. C limit writes as many bytes as the job (2.13 GB, reading 4.27 GB"
echo "of sd15.ckpt); C limit-in reads the job's 2.13 GB input but writes only half of it."

# Hashing: safeckpt hash (SHA-256 + AutoV2 + old hash; for safetensors also AutoV3) against sha256sum.
declare -A hw
for r in $(seq "$rounds"); do
  for f in sd15.ckpt ref_f16.safetensors; do
    for tool in sha256sum safeckpt; do
      cat "$f" > /dev/null
      if [ $tool = sha256sum ]; then /usr/bin/time -f "%e" -o t.txt sha256sum "$f" >/dev/null; else /usr/bin/time -f "%e" -o t.txt ./sc/safeckpt hash "$f" >/dev/null; fi
      hw["$f $tool"]+="$(cat t.txt) "
      echo "round $r  hash $f $tool: $(cat t.txt)s" >&2
    done
  done
done
echo
echo "| hash job | sha256sum s | safeckpt hash s | ratio |"
echo "|---|---|---|---|"
for f in sd15.ckpt ref_f16.safetensors; do
  a=$(echo "${hw["$f sha256sum"]}" | median); b=$(echo "${hw["$f safeckpt"]}" | median)
  echo "| $f | $a | $b | $(awk "BEGIN{printf \"%.2f\", $b/$a}") |"
done
