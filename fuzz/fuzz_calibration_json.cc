// libFuzzer target for calibration.json (calibration/self_calibration.h ReadCalibrationJson).
// Any input must load or raise vigil::Error; anything else is a bug.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "vigil/calibration/self_calibration.h"
#include "vigil/util/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path path = vigil::fuzz::ScratchDir("calibration_json") / "c.json";
  vigil::fuzz::WriteBytes(path, data, size);
  try {
    const vigil::CalibrationResult r = vigil::ReadCalibrationJson(path);
    volatile double sum = r.threshold;
    for (const auto& pair : r.pairs) sum = sum + static_cast<double>(pair.name.size());
  } catch (const vigil::Error&) {
  }
  return 0;
}
