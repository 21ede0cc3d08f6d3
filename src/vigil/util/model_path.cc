#include "vigil/util/model_path.h"

#include <cstdlib>
#include <sstream>

#include <fmt/ranges.h>

#include "vigil/util/check.h"

namespace vigil {
namespace fs = std::filesystem;

std::vector<fs::path> ModelSearchDirs() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("VIGIL_MODELS"); env != nullptr) {
    std::stringstream list(env);
    for (std::string dir; std::getline(list, dir, ':');) {
      if (!dir.empty()) dirs.emplace_back(dir);
    }
  }
  // The shared folder's models when the shared folder is named (the test runner names it).
  if (const char* shared = std::getenv("VIGIL_SHARED_DIR"); shared != nullptr && *shared) {
    dirs.push_back(fs::path(shared) / "models");
  }
  dirs.emplace_back("models");
  dirs.emplace_back("../shared/models");
  return dirs;
}

fs::path FindModelFile(const std::string& explicit_path, const ModelSpec& spec) {
  if (!explicit_path.empty()) {
    VIGIL_CHECK(fs::is_regular_file(explicit_path), "{}: {} not found", explicit_path,
                spec.description);
    return explicit_path;
  }
  std::vector<std::string> tried;
  for (const fs::path& dir : ModelSearchDirs()) {
    for (const std::string& relative : spec.relative_paths) {
      const fs::path candidate = dir / relative;
      if (fs::is_regular_file(candidate)) return candidate;
      tried.push_back(candidate.string());
    }
  }
  ThrowError(fmt::format("{} not found; tried {} (set --weights or VIGIL_MODELS){}",
                         spec.description, fmt::join(tried, ", "),
                         spec.official_source.empty()
                             ? ""
                             : "; the official file is published at " + spec.official_source));
}

}  // namespace vigil
