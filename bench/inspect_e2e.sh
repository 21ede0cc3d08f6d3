#!/usr/bin/env bash
# End-to-end timing of `vigil inspect` on ../shared/data/changes-freiburg (9 reference frames,
# 24 queries), from empty output folders, per extractor (default: superpoint), 2 threads,
# matcher nn, segmenter YOLOv8-seg when its weights are there (else graph). Three runs:
#   folder   inspect --reference DIR          (every reference decoded and extracted)
#   build    map build --reference DIR        (once per site)
#   map      inspect --map SITE.vmap          (no reference decoded or extracted)
# and reports wall times, the map/folder wall ratio (issue 14: <= 0.7), frames/s with a map,
# the per-stage means of the map run, and the live-rate ratio: a query's mean time with a map
# (the sum of its top-level stages but "write") over the same run's mean SuperPoint extraction
# of a query (the "extract" stage), goal <= 1.6; and the wall time per query over the same
# extraction (vigil inspect's workers inspect two queries at once: InspectorOptions::jobs).
#
# Checks before printing: exit codes 0; one JSON and one mask per query; report.html and
# events.json; no temporary ".tmp-" file; the map run's per-query results equal the folder
# run's (every key but timings_ms and config_hash) and so do their events; the references
# equal pairs.csv. Needs jq.
#
#   bench/inspect_e2e.sh                       (from the repository root, after building vigil)
#   VIGIL=build-x/apps/vigil/vigil EXTRACTORS="superpoint sift" bench/inspect_e2e.sh
set -euo pipefail

VIGIL=${VIGIL:-build/apps/vigil/vigil}
SHARED=${VIGIL_SHARED_DIR:-../shared}
DATA=$SHARED/data/changes-freiburg
OUT=${OUT:-$(mktemp -d /tmp/vigil_inspect_e2e.XXXXXX)}
EXTRACTORS=${EXTRACTORS:-superpoint}

fail() { echo "inspect_e2e: $*" >&2; exit 1; }
[[ -x $VIGIL ]] || fail "$VIGIL not built (set VIGIL=...)"
[[ -f $DATA/pairs.csv ]] || fail "$DATA not found (set VIGIL_SHARED_DIR)"
command -v jq > /dev/null || fail "needs jq (apt install jq)"

segmenter=(--segmenter graph)
yolo=$SHARED/models/yolov8_seg/yolov8n-seg_640.onnx
[[ -f $yolo ]] && segmenter=(--segmenter yolov8-seg --segmenter-weights "$yolo")
queries=$(find "$DATA/query" -maxdepth 1 -name '*.png' | wc -l)

timed() {  # timed NAME CMD...: runs CMD, stores its wall seconds in $wall
  local name=$1; shift
  echo "# ${*}"
  local start end
  start=$(date +%s.%N)
  "$@" > "$OUT/$name.log" 2>&1 || { cat "$OUT/$name.log" >&2; fail "$name failed"; }
  end=$(date +%s.%N)
  wall=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')
}

check_outputs() {  # check_outputs DIR
  local out=$1 n
  n=$(find "$out" -maxdepth 1 -name '*.json' ! -name '*.tmp-*' ! -name events.json ! -name skipped.json | wc -l)
  local masks tmp
  masks=$(find "$out/masks" -maxdepth 1 -name '*.png' ! -name '*.tmp-*' | wc -l)
  tmp=$(find "$out" -name '*.tmp-*' | wc -l)
  [[ $n -eq $queries && $masks -eq $queries && $tmp -eq 0 && -f $out/report.html && -f $out/events.json ]] ||
    fail "$out: incomplete output ($n JSON, $masks masks, $tmp temporaries)"
}

for extractor in $EXTRACTORS; do
  weights=()
  [[ $extractor == superpoint ]] && weights=(--weights "$SHARED/models/superpoint/superpoint_v1_from_fp16.pth")
  common=(--extractor "$extractor" "${weights[@]}" --threads 2)
  folder=$OUT/$extractor/folder map_out=$OUT/$extractor/map site=$OUT/$extractor/site.vmap
  rm -rf "$OUT/$extractor"; mkdir -p "$OUT/$extractor"

  timed "$extractor-folder" "$VIGIL" inspect --reference "$DATA/reference" --query "$DATA/query" \
    --out "$folder" "${common[@]}" "${segmenter[@]}" --no-resume --quiet
  folder_wall=$wall
  timed "$extractor-build" "$VIGIL" map build --reference "$DATA/reference" --out "$site" "${common[@]}"
  build_wall=$wall
  timed "$extractor-map" "$VIGIL" inspect --map "$site" --query "$DATA/query" \
    --out "$map_out" "${common[@]}" "${segmenter[@]}" --no-resume --quiet
  map_wall=$wall
  check_outputs "$folder"
  check_outputs "$map_out"

  same=0
  for f in "$folder"/*.json; do
    b=$(basename "$f")
    [[ $b == events.json || $b == skipped.json ]] && continue
    [[ $(jq -cS 'del(.timings_ms, .config_hash)' "$f") == "$(jq -cS 'del(.timings_ms, .config_hash)' "$map_out/$b")" ]] &&
      same=$((same + 1))
  done
  [[ $same -eq $queries ]] || fail "$extractor: only $same/$queries map results equal the folder run's"
  [[ $(jq -cS . "$folder/events.json") == "$(jq -cS . "$map_out/events.json")" ]] || fail "$extractor: events differ"
  ok=0
  while IFS=, read -r q r; do
    [[ $(jq -r .reference.image "$map_out/${q%.*}.json") == "$r" ]] && ok=$((ok + 1)) || true
  done < <(tr -d '\r' < "$DATA/pairs.csv" | tail -n +2)

  jsons=$(find "$map_out" -maxdepth 1 -name '*.json' ! -name events.json ! -name skipped.json)
  # shellcheck disable=SC2086
  # Top-level stages only: detect_* and matcher_* are parts of detect and match, and register,
  # deep_features and deep_features_reference parts of dense (until 2026-12-07 evening they were
  # counted twice, which overstated the per-query time by ~180 ms).
  read -r total extract < <(jq -s -r 'map(.timings_ms) as $t
      | ["write", "register", "deep_features", "deep_features_reference"] as $nested
      | [([$t[] | [to_entries[] | select((.key | startswith("detect_") or startswith("matcher_")) or (.key as $k | $nested | index($k)) | not) | .value] | add] | add / length),
         ([$t[].extract] | add / length)] | @tsv' $jsons)
  awk -v x="$extractor" -v f="$folder_wall" -v b="$build_wall" -v m="$map_wall" -v n="$queries" \
      -v t="$total" -v e="$extract" -v ok="$ok" -v same="$same" 'BEGIN {
    printf "%s: folder %.1f s, map build %.1f s, map %.1f s: map/folder %.2f (goal <= 0.7); %.2f frames/s with a map\n", x, f, b, m, m / f, n / m
    printf "  per query with a map: %.0f ms = %.2f x the same run'"'"'s %.0f ms %s extraction (goal <= 1.6)\n", t, t / e, e, x
    printf "  wall per query with a map (workers overlap queries): %.0f ms = %.2f x that extraction\n", 1000 * m / n, 1000 * m / n / e
    printf "  results equal to the folder run: %d/%d; reference as in pairs.csv: %d/%d\n", same, n, ok, n
  }'
  echo "  per-stage means with a map (ms):"
  # shellcheck disable=SC2086
  jq -s -r 'map(.timings_ms) as $t | ([$t[] | keys[]] | unique)[] as $k
            | select(($k | startswith("detect_") or startswith("matcher_")) | not)
            | "    \($k): \(([$t[][$k] // 0] | add / length) * 10 | round / 10)"' $jsons
done
echo "outputs in $OUT"
