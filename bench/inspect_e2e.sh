#!/usr/bin/env bash
# End-to-end timing of the `vigil inspect` command on ../shared/data/changes-freiburg (9 reference
# frames, 24 queries), from an empty output folder, once per extractor (default: superpoint and
# sift), 2 threads, matcher nn, segmenter YOLOv8-seg when its weights are there (else graph).
# The goal: under a minute on 2 cores for the 24 queries.
#
# Checks each run before printing its time: exit code 0, 24 per-query JSON files each with its
# mask, report.html, no temporary ".tmp-" file left. Per-stage means come from the per-query JSON
# "timings_ms" (needs jq; skipped without it).
#
#   bench/inspect_e2e.sh                       (from the repository root, after building vigil)
#   VIGIL=build-x/apps/vigil/vigil EXTRACTORS=sift bench/inspect_e2e.sh
set -euo pipefail

VIGIL=${VIGIL:-build/apps/vigil/vigil}
SHARED=${VIGIL_SHARED_DIR:-../shared}
DATA=$SHARED/data/changes-freiburg
OUT=${OUT:-$(mktemp -d /tmp/vigil_inspect_e2e.XXXXXX)}
EXTRACTORS=${EXTRACTORS:-superpoint sift}

[[ -x $VIGIL ]] || { echo "inspect_e2e: $VIGIL not built (set VIGIL=...)" >&2; exit 1; }
[[ -f $DATA/pairs.csv ]] || { echo "inspect_e2e: $DATA not found (set VIGIL_SHARED_DIR)" >&2; exit 1; }

segmenter=(--segmenter graph)
yolo=$SHARED/models/yolov8_seg/yolov8n-seg_640.onnx
[[ -f $yolo ]] && segmenter=(--segmenter yolov8-seg --segmenter-weights "$yolo")
queries=$(find "$DATA/query" -maxdepth 1 -name '*.png' | wc -l)

for extractor in $EXTRACTORS; do
  out=$OUT/$extractor
  rm -rf "$out"
  weights=()
  [[ $extractor == superpoint ]] && weights=(--weights "$SHARED/models/superpoint/superpoint_v1_from_fp16.pth")
  cmd=("$VIGIL" inspect --reference "$DATA/reference" --query "$DATA/query" --out "$out"
       --extractor "$extractor" "${weights[@]}" --threads 2 "${segmenter[@]}" --no-resume --quiet)
  echo "# ${cmd[*]}"
  start=$(date +%s.%N)
  cpu_before=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)  # this shell + waited children
  "${cmd[@]}" > "$OUT/$extractor.log"
  end=$(date +%s.%N)
  cpu_after=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  ticks=$(getconf CLK_TCK)

  done_json=$(find "$out" -maxdepth 1 -name '*.json' ! -name '*.tmp-*' | wc -l)
  masks=$(find "$out/masks" -maxdepth 1 -name '*.png' ! -name '*.tmp-*' | wc -l)
  tmp=$(find "$out" -name '*.tmp-*' | wc -l)
  if [[ $done_json -ne $queries || $masks -ne $queries || $tmp -ne 0 || ! -f $out/report.html ]]; then
    echo "inspect_e2e: $extractor: incomplete output ($done_json JSON, $masks masks, $tmp temporaries)" >&2
    exit 1
  fi
  awk -v x="$extractor" -v s="$start" -v e="$end" -v c0="$cpu_before" -v c1="$cpu_after" \
      -v t="$ticks" -v n="$queries" \
    'BEGIN { printf "%s: wall %.1f s (%.0f ms/query, goal 60 s), cpu %.1f s\n", x, e - s, 1000 * (e - s) / n, (c1 - c0) / t }'
  if command -v jq > /dev/null; then
    jq -s -r 'map(.timings_ms) as $t | ($t[0] | keys_unsorted)[] as $k
              | "  \($k): \(([$t[][$k]] | add / length) * 10 | round / 10) ms"' \
      $(find "$out" -maxdepth 1 -name '*.json' ! -name '*.tmp-*')
    tr -d '\r' < "$DATA/pairs.csv" | tail -n +2 | {
      ok=0
      while IFS=, read -r q r; do
        [[ $(jq -r .reference.image "$out/${q%.*}.json") == "$r" ]] && ok=$((ok + 1))
      done
      echo "  reference as in pairs.csv: $ok/$queries"
    }
  fi
done
echo "outputs in $OUT"
