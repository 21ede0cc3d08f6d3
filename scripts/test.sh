#!/usr/bin/env bash
# The test command of the README (and of CI): installs dependencies, builds, runs every test.
# Needs ../shared (fixtures, models, data) beside the checkout for the golden-output tests;
# without it those tests are skipped, never silently passed.
set -euo pipefail
cd "$(dirname "$0")/.."
VIGIL_WITH_ROS=1 VIGIL_BUILD_ALL=1 bash scripts/setup.sh
(cd build && ctest --output-on-failure -j"$(nproc)" --timeout 600)
# Every parser of untrusted input under libFuzzer + ASan/UBSan for a short while (the seed corpora
# and what the fuzzer reaches from them): a crash, sanitizer report, leak or timeout fails the
# test command. Longer runs: scripts/fuzz_smoke.sh 600 (bench/README.md lists the last ones).
bash scripts/fuzz_smoke.sh "${VIGIL_FUZZ_SECONDS:-10}"
