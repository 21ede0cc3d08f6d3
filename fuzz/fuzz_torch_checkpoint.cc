// libFuzzer target for the PyTorch checkpoint reader: any input must either load or raise
// vigil::Error. Anything else (a crash, a sanitizer report, another exception type, a hang or an
// out-of-memory) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "vigil/io/torch_checkpoint.h"
#include "vigil/util/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const vigil::io::StateDict sd = vigil::io::LoadTorchCheckpointFromMemory(bytes, "fuzz.pth");
    // Touch every value so that a wrong size would show up under AddressSanitizer.
    volatile float sum = 0.f;
    for (const auto& [key, entry] : sd.entries()) {
      for (float v : entry.tensor.data) sum = sum + v;
    }
  } catch (const vigil::Error&) {
    // Rejected with a message: the expected outcome for broken input.
  }
  return 0;
}
