// libFuzzer target for the .npy reader (io/npy.h). Any input must load or raise vigil::Error;
// anything else (a crash, a sanitizer report, a huge allocation from the shape) is a bug.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "vigil/io/npy.h"
#include "vigil/util/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path path = vigil::fuzz::ScratchDir("npy") / "a.npy";
  vigil::fuzz::WriteBytes(path, data, size);
  try {
    const vigil::io::NpyArray a = vigil::io::ReadNpy(path);
    volatile float sum = 0;
    for (float v : a.data) sum = sum + v;
  } catch (const vigil::Error&) {
  }
  return 0;
}
