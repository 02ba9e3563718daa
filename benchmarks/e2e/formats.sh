#!/usr/bin/env bash
# Issue 14's speed runs: SD 1.5 full EMA fp32 ckpt (7.70 GB) to fp8 safetensors (plain e4m3fn and ComfyUI's scaled
# fp8) and to a Q8_0 GGUF of the UNet, interleaved round by round with the limit probe (the issue's yardstick), each
# with provenance on (SafeCkpt's hash cache empty: one SHA-256 pass of the input) and with --no-provenance. Every
# run starts from the same state: previous output deleted, writeback settled (sync, SETTLE seconds), the input read
# once so it is in the page cache. Prints one line per run, then the medians with peak RSS and the ratio to the
# probe's median.
#   benchmarks/e2e/formats.sh WORKDIR SAFECKPT [JOB ...]     (ROUNDS=3; JOB names from the list below, default all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
shared=${SHARED:-$here/../../../shared/bench}
work=${1:?usage: formats.sh WORKDIR SAFECKPT [JOB ...]}; tool=${2:?usage: formats.sh WORKDIR SAFECKPT [JOB ...]}; shift 2
rounds=${ROUNDS:-3}
cd "$work"
[ -f sd15.ckpt ] || { echo "no $work/sd15.ckpt: /usr/bin/python3 $shared/make_ckpt.py $work/sd15.ckpt --ema --lightning"; exit 1; }
[ -x limit_f16c ] || cc -O3 -mavx2 -mf16c "$shared/limit_f16c.c" -o limit_f16c
cache=$(mktemp -d)
export SAFECKPT_HASH_CACHE="$cache/hashes.json"   # empty before every run: provenance hashes the input
declare -A all=(
  [limit]="./limit_f16c sd15.ckpt out_limit 4265000000"
  [fp8]="$tool convert sd15.ckpt out_fp8.safetensors --dtype fp8-e4m3fn --no-ema"
  [fp8-noprov]="$tool convert sd15.ckpt out_fp8np.safetensors --dtype fp8-e4m3fn --no-ema --no-provenance"
  [fp8-scaled]="$tool convert sd15.ckpt out_fp8s.safetensors --dtype fp8-scaled --no-ema"
  [fp8-scaled-noprov]="$tool convert sd15.ckpt out_fp8snp.safetensors --dtype fp8-scaled --no-ema --no-provenance"
  [q8_0]="$tool convert sd15.ckpt out_q8.gguf --quant q8_0 --no-ema"
  [q8_0-noprov]="$tool convert sd15.ckpt out_q8np.gguf --quant q8_0 --no-ema --no-provenance"
)
order=(limit fp8 fp8-noprov fp8-scaled fp8-scaled-noprov q8_0 q8_0-noprov)
[ $# -gt 0 ] && order=(limit "$@")
declare -A wall rss
for r in $(seq "$rounds"); do
  for name in "${order[@]}"; do
    cmd=${all[$name]}
    rm -f out_* "$SAFECKPT_HASH_CACHE"; sync; sleep "${SETTLE:-3}"; cat sd15.ckpt > /dev/null
    /usr/bin/time -f "%e %M" -o t.txt bash -c "$cmd" >/dev/null 2>err.txt || { echo "$name failed:"; cat err.txt; exit 1; }
    read -r w m < t.txt
    wall[$name]+="$w "; rss[$name]+="$m "
    echo "round $r  $name: ${w}s ${m}KB  (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  done
done
rm -rf out_* "$cache"
limit=$(echo "${wall[limit]}" | median)
echo "| job | wall s (median of $rounds) | all runs | peak RSS MB | wall / limit probe |"
echo "|---|---|---|---|---|"
for name in "${order[@]}"; do
  w=$(echo "${wall[$name]}" | median); m=$(echo "${rss[$name]}" | median)
  echo "| $name | $w | ${wall[$name]% } | $(awk "BEGIN{printf \"%.0f\", $m/1024}") | $(awk "BEGIN{printf \"%.2f\", $w/$limit}") |"
done
