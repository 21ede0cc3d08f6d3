// libFuzzer target for the matches JSON reader (matching/matches_io.h ReadMatches, what `vigil
// match --matches` reads): any input must load as a consistent matching or raise vigil::Error;
// anything else (a crash, an index used unchecked, an uncaught nlohmann exception) is a bug.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "vigil/matching/matches_io.h"
#include "vigil/util/check.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path path = vigil::fuzz::ScratchDir("matches_json") / "matches.json";
  vigil::fuzz::WriteBytes(path, data, size);
  try {
    const vigil::io::MatchFile f = vigil::io::ReadMatches(path);
    // Use what was read as a consumer would: every partner indexes the other image's keypoints.
    volatile float sum = 0;
    for (size_t i = 0; i < f.matches.matches0.size(); ++i) {
      const int j = f.matches.matches0[i];
      if (j >= 0) sum = sum + f.features1.keypoints(j, 0) + f.matches.confidence1[j];
    }
  } catch (const vigil::Error&) {
  }
  return 0;
}
