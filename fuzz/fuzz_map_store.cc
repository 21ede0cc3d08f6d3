// libFuzzer target for map files (map/map_store.h MapStore::OpenReadOnly and its loaders): a
// .vmap is untrusted input once it is copied between robots and sites. Any input must open and
// load, or raise vigil::Error; anything else (a crash, a sanitizer report, a huge allocation
// from a size field) is a bug. Seeds: fuzz/corpus/map_store/ (small maps built by vigil).
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "fuzz_util.h"
#include "vigil/map/map_store.h"
#include "vigil/util/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path dir = vigil::fuzz::ScratchDir("map_store");
  const std::filesystem::path path = dir / "m.vmap";
  for (const char* leftover : {"m.vmap-wal", "m.vmap-shm"}) std::filesystem::remove(dir / leftover);
  vigil::fuzz::WriteBytes(path, data, size);
  try {
    const vigil::map::MapStore map = vigil::map::MapStore::OpenReadOnly(path);
    volatile size_t sum = map.build_identity().size() + map.vigil_version().size();
    for (const auto& frame : map.Frames()) {
      const vigil::Features f = map.LoadFeatures(frame.index);
      sum = sum + static_cast<size_t>(f.size()) + map.LoadGlobalDescriptor(frame.index).size() +
            map.LoadGray(frame.index).total();
    }
    for (const std::string& key : map.DeepFeatureKeys()) {
      for (const auto& frame : map.Frames()) {
        if (const auto deep = map.LoadDeepFeatures(frame.index, key)) sum = sum + deep->maps.size();
      }
    }
    if (map.Calibration()) sum = sum + 1;
  } catch (const vigil::Error&) {
  }
  return 0;
}
