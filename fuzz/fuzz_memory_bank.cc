// libFuzzer target for the SPADE / PatchCore memory bank file (spade/memory_bank.h). Any input
// must load or raise vigil::Error; anything else (a crash, a sanitizer report, a huge allocation
// from a header length or an array shape) is a bug. The harness appends the file's FNV-1a 64
// checksum to the input, so mutations reach the header and array parsing instead of dying at the
// checksum (the checksum check itself is three lines); seeds are bank files without their last
// 8 bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "vigil/spade/backbone.h"
#include "vigil/spade/memory_bank.h"
#include "vigil/util/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path path = vigil::fuzz::ScratchDir("memory_bank") / "bank.vmb";
  std::string bytes(reinterpret_cast<const char*>(data), size);
  const uint64_t checksum = vigil::spade::Fnv1a64(bytes.data(), bytes.size());
  bytes.append(reinterpret_cast<const char*>(&checksum), sizeof(checksum));
  vigil::fuzz::WriteBytes(path, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  try {
    const vigil::spade::MemoryBank bank = vigil::spade::LoadMemoryBank(path);
    volatile float sum = 0;
    for (const auto& a : bank.arrays) {
      for (float v : a.data) sum = sum + v;
    }
  } catch (const vigil::Error&) {
  }
  return 0;
}
