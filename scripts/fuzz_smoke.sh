#!/usr/bin/env bash
# Fuzz smoke run: builds the libFuzzer targets (fuzz/) with clang + ASan/UBSan in build-fuzz/ and
# runs each for SECONDS (default 20) on a scratch copy of its seed corpus fuzz/corpus/<target>/,
# failing on the first crash, sanitizer report, leak, timeout or out-of-memory. Skips (exit 0)
# when clang or libFuzzer is missing, so it can run anywhere.
# Usage: scripts/fuzz_smoke.sh [SECONDS] [TARGET...]      (env BUILD_DIR, JOBS)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"; shift || true
build="${BUILD_DIR:-build-fuzz}"
jobs="${JOBS:-2}"
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(fuzz_torch_checkpoint fuzz_npy fuzz_features_json
  fuzz_run_poses fuzz_calibration_json fuzz_memory_bank fuzz_map_store fuzz_frame_record
  fuzz_matches_json)

if ! command -v clang++ >/dev/null || ! command -v clang >/dev/null; then
  echo "fuzz_smoke: clang not found, skipped"; exit 0
fi
probe="$(mktemp -d)"; trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' \
  > "$probe/p.cc"
if ! clang++ -fsanitize=fuzzer "$probe/p.cc" -o "$probe/p" 2>/dev/null; then
  echo "fuzz_smoke: clang has no libFuzzer (-fsanitize=fuzzer), skipped"; exit 0
fi

if [[ ! -f "$build/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVIGIL_BUILD_FUZZERS=ON -DVIGIL_ENABLE_SANITIZERS=ON -DVIGIL_ENABLE_ROS=OFF \
    -DVIGIL_BUILD_TESTS=OFF -DVIGIL_BUILD_BENCHMARKS=OFF >/dev/null
fi
ninja -C "$build" -j"$jobs" "${targets[@]}"

fail=0
for t in "${targets[@]}"; do
  name="${t#fuzz_}"
  work="$probe/$t"; mkdir -p "$work/corpus" "$work/artifacts"
  if [[ -d "fuzz/corpus/$name" ]]; then cp -r "fuzz/corpus/$name/." "$work/corpus/"; fi
  # The checkpoint reader is seeded from the test checkpoints rather than a copy of them.
  if [[ $name == torch_checkpoint && -d tests/data/checkpoints ]]; then
    cp tests/data/checkpoints/*.pth "$work/corpus/"
  fi
  dict=(); [[ -f "fuzz/$name.dict" ]] && dict=(-dict="fuzz/$name.dict")
  # -rss_limit_mb / -malloc_limit_mb: a length field that asks for gigabytes is a bug, not a
  # slow input. halt_on_error makes UBSan reports fatal too.
  if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
     "$build/fuzz/$t" "${dict[@]}" -max_total_time="$seconds" -rss_limit_mb=2048 \
       -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$work/artifacts/" "$work/corpus" > "$work/log" 2>&1; then
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")"
    echo "fuzz_smoke: $t clean (${seconds} s, ${execs:-?} executions)"
  else
    echo "fuzz_smoke: $t FAILED; last lines of its log:"; tail -40 "$work/log"
    mkdir -p "$build/fuzz-artifacts"; cp -r "$work/artifacts/." "$build/fuzz-artifacts/" || true
    echo "fuzz_smoke: crashing inputs copied to $build/fuzz-artifacts/"
    fail=1
  fi
done
exit $fail
