#include "vigil/util/model_identity.h"

namespace vigil {
namespace fs = std::filesystem;
using nlohmann::json;

json ModelIdentity(const fs::path& path) {
  std::error_code size_error, time_error;
  const auto size = fs::file_size(path, size_error);
  const auto mtime = fs::last_write_time(path, time_error).time_since_epoch().count();
  return {{"file", fs::absolute(path).lexically_normal().string()},
          {"size", size_error ? json(nullptr) : json(size)},
          {"mtime", time_error ? json(nullptr) : json(mtime)}};
}

json ModelIdentities(const std::vector<fs::path>& files) {
  json out = json::array();
  for (const fs::path& f : files) out.push_back(ModelIdentity(f));
  return out;
}

}  // namespace vigil
