// Helpers for the libFuzzer targets whose parser only takes a path: the input is written to a
// file in a per-process scratch folder under /tmp (kept for the process's lifetime, so each
// execution costs one small write, not a folder creation).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace vigil::fuzz {

// /tmp/vigil_fuzz_<name>_<pid>, created on first use.
inline const std::filesystem::path& ScratchDir(const std::string& name) {
  static const std::filesystem::path dir = [&] {
    std::filesystem::path d = std::filesystem::temp_directory_path() /
                              ("vigil_fuzz_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline void WriteBytes(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) std::abort();  // the harness itself failed: not a parser bug, but stop loudly
}

}  // namespace vigil::fuzz
