#!/usr/bin/env bash
# Strided views against contiguous tensors, end to end (issue 11): the same SD 1.x checkpoint (1.06 GB fp32) written by
# torch.save with its big tensors as transposed / channels-last views and with every tensor contiguous, each converted
# to fp16 safetensors by the published tool. Interleaved, median of ROUNDS (3) runs each, warm page cache; prints the
# wall-time ratio. The two outputs must be byte-identical. Generated files are deleted at the end (KEEP=1 keeps them).
#   benchmarks/e2e/views.sh WORKDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
root=$(cd "$here/../.." && pwd)
work=${1:?usage: views.sh WORKDIR}
rounds=${ROUNDS:-3}
mkdir -p "$work"
cd "$work"
cleanup() { [ -n "${KEEP:-}" ] || rm -rf views.ckpt contiguous.ckpt out_views.safetensors out_contiguous.safetensors views_time.txt sc_views; }
trap cleanup EXIT
[ -f views.ckpt ] && [ -f contiguous.ckpt ] || /usr/bin/python3 "$here/make_views_ckpt.py" "$work"
dotnet publish "$root/src/SafeCkpt.Cli" -c Release -o "$work/sc_views" >/dev/null

declare -A wall rss
for r in $(seq "$rounds"); do
  for kind in contiguous views; do
    rm -f "out_$kind.safetensors"; sync; sleep "${SETTLE:-3}"; cat "$kind.ckpt" > /dev/null
    /usr/bin/time -f "%e %M" -o views_time.txt ./sc_views/safeckpt convert "$kind.ckpt" "out_$kind.safetensors" --dtype fp16 >/dev/null
    read -r w m < views_time.txt
    wall[$kind]+="$w "; rss[$kind]+="$m "
    echo "round $r  $kind: ${w}s ${m}KB" >&2
  done
done
cmp out_contiguous.safetensors out_views.safetensors
c=$(echo "${wall[contiguous]}" | median); v=$(echo "${wall[views]}" | median)
echo "| input | wall s (median of $rounds) | peak RSS MB |"
echo "|---|---|---|"
for kind in contiguous views; do
  w=$(echo "${wall[$kind]}" | median); m=$(echo "${rss[$kind]}" | median)
  echo "| $kind.ckpt | $w | $(awk "BEGIN{printf \"%.0f\", $m/1024}") |"
done
echo
echo "views / contiguous: $(awk "BEGIN{printf \"%.2f\", $v/$c}") (outputs byte-identical)"
