// The files `vigil features` writes and `vigil match --features0/1` reads:
//   <stem>.json = {"image", "width", "height", "extractor", "keypoints": [[x, y], ...],
//                  "scores": [...], "descriptors": "<stem>.desc.npy", "descriptor_type"}
//   <stem>.desc.npy: N x D float32 (binary ORB descriptors are stored one byte per column,
//   descriptor_type "binary").
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "vigil/features/types.h"

namespace vigil::io {

// Writes <dir>/<stem>.json and <dir>/<stem>.desc.npy atomically (the .npy first, so a JSON that
// exists always has its descriptors).
void WriteFeatures(const std::filesystem::path& dir, const std::string& stem,
                   const std::string& image_path, const Features& features);

// Reads a features JSON and its descriptor sidecar (relative to the JSON's folder).
// Throws vigil::Error naming the file and the field on malformed input.
Features ReadFeatures(const std::filesystem::path& json_path);

// JSON helpers shared by the writers of match and inspection results.
nlohmann::json KeypointsToJson(const KeypointMatrix& keypoints);

}  // namespace vigil::io
