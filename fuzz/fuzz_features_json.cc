// libFuzzer target for the features JSON reader (features/features_io.h): the input is the JSON;
// its folder also holds a valid 3 x 4 float32 descriptor sidecar "f.desc.npy", so inputs that
// name it reach the keypoint/descriptor consistency checks. Any input must load or raise
// vigil::Error; anything else is a bug.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "vigil/features/features_io.h"
#include "vigil/io/npy.h"
#include "vigil/util/check.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path dir = [] {
    const fs::path d = vigil::fuzz::ScratchDir("features_json");
    const float desc[12] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f, 1.1f, 1.2f};
    vigil::io::WriteNpy(d / "f.desc.npy", desc, 3, 4);
    return d;
  }();
  const fs::path json = dir / "f.json";
  vigil::fuzz::WriteBytes(json, data, size);
  try {
    const vigil::Features f = vigil::io::ReadFeatures(json);
    volatile float sum = 0;
    for (int i = 0; i < f.keypoints.rows(); ++i) sum = sum + f.keypoints(i, 0) + f.keypoints(i, 1);
  } catch (const vigil::Error&) {
  }
  return 0;
}
