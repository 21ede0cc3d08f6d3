#!/usr/bin/env bash
# Peak memory of SuperPoint per megapixel: `vigil features` on one changes-freiburg frame
# resized to three sizes, peak RSS from /usr/bin/time (GNU time), slope by least squares.
# Checks each run wrote its keypoints (a features JSON with more than 100 keypoints) before
# using its figure. Usage: bench/memory_per_mp.sh   (VIGIL=..., VIGIL_SHARED_DIR=...)
set -euo pipefail
VIGIL=${VIGIL:-build/apps/vigil/vigil}
SHARED=${VIGIL_SHARED_DIR:-../shared}
OUT=${OUT:-$(mktemp -d /tmp/vigil_memory.XXXXXX)}
image=$(ls "$SHARED"/data/changes-freiburg/reference/*.png | head -1)
[[ -x $VIGIL && -f $image && -x /usr/bin/time ]] || { echo "memory_per_mp: needs $VIGIL, $image, /usr/bin/time" >&2; exit 1; }
rows=""
for size in 640x480 1600x1200 2560x1920; do
  /usr/bin/time -f "%M" -o "$OUT/$size.rss" "$VIGIL" features "$image" --extractor superpoint \
    --resize "$size" --out "$OUT/$size" > /dev/null
  json=$(ls "$OUT/$size"/*.json)
  n=$(jq '.keypoints | length' "$json")
  [[ $n -gt 100 ]] || { echo "memory_per_mp: $size: only $n keypoints" >&2; exit 1; }
  mp=$(awk -v s="$size" 'BEGIN { split(s, d, "x"); print d[1] * d[2] / 1e6 }')
  rss=$(cat "$OUT/$size.rss")
  echo "$size: $mp MP, peak $((rss / 1024)) MiB, $n keypoints"
  rows+="$mp $rss"$'\n'
done
printf '%s' "$rows" | awk '{ x += $1; y += $2 / 1048576; xx += $1 * $1; xy += $1 * $2 / 1048576; n++ }
  END { b = (n * xy - x * y) / (n * xx - x * x); printf "slope: %.2f GiB per megapixel, intercept %.2f GiB\n", b, (y - b * x) / n }'
