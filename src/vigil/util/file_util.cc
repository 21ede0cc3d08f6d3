#include "vigil/util/file_util.h"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>

#include "vigil/util/check.h"

namespace vigil {
namespace fs = std::filesystem;

namespace {
fs::path TemporarySibling(const fs::path& path) {
  // Unique per process and call, so concurrent writers of different files never collide.
  static std::atomic<unsigned> counter{0};
  return path.parent_path() /
         fmt::format(".{}.tmp-{}-{}", path.filename().string(), ::getpid(), counter++);
}
}  // namespace

void WriteFileAtomically(const fs::path& path, const std::function<void(const fs::path&)>& write) {
  if (path.has_parent_path()) EnsureDirectory(path.parent_path());
  const fs::path tmp = TemporarySibling(path);
  try {
    write(tmp);
    VIGIL_CHECK(fs::exists(tmp), "{}: writer produced no file", path.string());
    fs::rename(tmp, path);
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

void WriteBinaryFileAtomically(const fs::path& path, const void* data, size_t size) {
  WriteFileAtomically(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    VIGIL_CHECK(out.good(), "{}: cannot open for writing", path.string());
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    VIGIL_CHECK(out.good(), "{}: write failed (disk full?)", path.string());
  });
}

void WriteTextFileAtomically(const fs::path& path, const std::string& text) {
  WriteBinaryFileAtomically(path, text.data(), text.size());
}

std::string ReadFileToString(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  VIGIL_CHECK(in.good(), "{}: cannot open file", path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  VIGIL_CHECK(!in.bad(), "{}: read failed", path.string());
  return buffer.str();
}

void EnsureDirectory(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  VIGIL_CHECK(!ec && fs::is_directory(dir), "{}: cannot create folder ({})", dir.string(),
              ec.message());
}

}  // namespace vigil
