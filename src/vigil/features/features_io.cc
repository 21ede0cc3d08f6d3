#include "vigil/features/features_io.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "vigil/io/npy.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/json_reader.h"

namespace vigil::io {
namespace fs = std::filesystem;
using nlohmann::json;

json KeypointsToJson(const KeypointMatrix& keypoints) {
  json list = json::array();
  for (int i = 0; i < keypoints.rows(); ++i) list.push_back({keypoints(i, 0), keypoints(i, 1)});
  return list;
}

void WriteFeatures(const fs::path& dir, const std::string& stem, const std::string& image_path,
                   const Features& features) {
  const std::string npy_name = stem + ".desc.npy";
  if (features.is_binary()) {
    const DescriptorMatrix as_float = features.binary_descriptors.cast<float>();
    WriteNpy(dir / npy_name, as_float.data(), as_float.rows(), as_float.cols());
  } else {
    WriteNpy(dir / npy_name, features.descriptors.data(), features.descriptors.rows(),
             features.descriptors.cols());
  }
  json doc = {{"image", image_path},
              {"width", features.image_width},
              {"height", features.image_height},
              {"extractor", features.extractor},
              {"keypoints", KeypointsToJson(features.keypoints)},
              {"scores", std::vector<float>(features.scores.data(),
                                            features.scores.data() + features.scores.size())},
              {"descriptors", npy_name},
              {"descriptor_type", features.is_binary() ? "binary" : "float"}};
  WriteTextFileAtomically(dir / (stem + ".json"), doc.dump(1));
}

Features ReadFeatures(const fs::path& json_path) {
  const json doc = ReadJsonFile(json_path);
  auto field = [&](const char* name) -> const json& {
    VIGIL_CHECK(doc.is_object() && doc.contains(name), "{}: missing field '{}'",
                json_path.string(), name);
    return doc.at(name);
  };
  // Numbers are range-checked before conversion: nlohmann's get<float>() / get<int>() is a plain
  // static_cast, undefined for 1e300 or 1e20, which a hand-edited or hostile file can hold.
  auto to_float = [&](const json& v, const char* what) {
    VIGIL_CHECK(v.is_number(), "{}: '{}' must hold numbers", json_path.string(), what);
    const double d = v.get<double>();
    VIGIL_CHECK(std::isfinite(d) && std::abs(d) <= std::numeric_limits<float>::max(),
                "{}: '{}' holds {}, not a finite float", json_path.string(), what, d);
    return static_cast<float>(d);
  };
  auto to_int = [&](const json& v, const char* what) {
    VIGIL_CHECK(v.is_number_integer() &&
                    (v.is_number_unsigned()
                         ? v.get<uint64_t>() <= uint64_t{std::numeric_limits<int>::max()}
                         : v.get<int64_t>() >= std::numeric_limits<int>::min() &&
                               v.get<int64_t>() <= std::numeric_limits<int>::max()),
                "{}: '{}' must be an integer in int range, got {}", json_path.string(), what,
                v.dump());
    return static_cast<int>(v.get<int64_t>());
  };
  Features features;
  try {
    features.image_width = to_int(field("width"), "width");
    features.image_height = to_int(field("height"), "height");
    features.extractor = field("extractor").get<std::string>();
    const json& keypoints = field("keypoints");
    const json& scores = field("scores");
    VIGIL_CHECK(keypoints.is_array() && scores.is_array() && keypoints.size() == scores.size(),
                "{}: 'keypoints' and 'scores' must be arrays of equal length", json_path.string());
    const int n = static_cast<int>(keypoints.size());
    features.keypoints.resize(n, 2);
    features.scores.resize(n);
    for (int i = 0; i < n; ++i) {
      features.keypoints(i, 0) = to_float(keypoints[i].at(0), "keypoints");
      features.keypoints(i, 1) = to_float(keypoints[i].at(1), "keypoints");
      features.scores(i) = to_float(scores[i], "scores");
    }
    const NpyArray desc = ReadNpy(json_path.parent_path() / field("descriptors").get<std::string>());
    VIGIL_CHECK(desc.shape.size() == 2 && desc.shape[0] == n,
                "{}: descriptor file has {} rows, expected {}", json_path.string(),
                desc.shape.empty() ? 0 : desc.shape[0], n);
    const auto dim = static_cast<int>(desc.shape[1]);
    DescriptorMatrix values =
        Eigen::Map<const DescriptorMatrix>(desc.data.data(), n, dim);
    if (doc.value("descriptor_type", "float") == "binary") {
      // Bytes stored as floats: anything but an integer in [0, 255] is corruption (and casting
      // it to uint8_t would be undefined).
      for (Eigen::Index k = 0; k < values.size(); ++k) {
        const float v = values.data()[k];
        VIGIL_CHECK(v >= 0 && v <= 255 && v == std::floor(v),
                    "{}: binary descriptor value {} is not a byte", json_path.string(), v);
      }
      features.binary_descriptors = values.cast<uint8_t>();
    } else {
      features.descriptors = std::move(values);
    }
  } catch (const json::exception& e) {
    ThrowError(fmt::format("{}: malformed features file ({})", json_path.string(), e.what()));
  }
  return features;
}

}  // namespace vigil::io
