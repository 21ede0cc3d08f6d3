// Helpers shared by the benchmark programs.
#pragma once

#include <cstdlib>
#include <filesystem>

namespace vigil::bench {

// The shared folder (data, models, fixtures): $VIGIL_SHARED_DIR, else the one CMake was given.
inline std::filesystem::path SharedDir() {
  const char* env = std::getenv("VIGIL_SHARED_DIR");
  return env != nullptr ? std::filesystem::path(env) : std::filesystem::path(VIGIL_SHARED_DIR);
}

}  // namespace vigil::bench
