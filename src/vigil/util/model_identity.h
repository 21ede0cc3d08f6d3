// What identifies a model (or calibration) file without reading all of it: its absolute path,
// size and modification time. Used by every configuration identity (the inspector's resume key,
// the map file's build identity) so that other weights under the same name are noticed.
#pragma once

#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

namespace vigil {

// {"file": absolute path, "size": bytes or null, "mtime": clock ticks or null}.
nlohmann::json ModelIdentity(const std::filesystem::path& path);
// ModelIdentity of each file, in order.
nlohmann::json ModelIdentities(const std::vector<std::filesystem::path>& files);

}  // namespace vigil
