#include "vigil/map/map_builder.h"

#include <chrono>
#include <fstream>
#include <optional>

#include "vigil/io/image_io.h"
#include "vigil/map/map_store.h"
#include "vigil/util/check.h"
#include "vigil/util/model_identity.h"
#include "vigil/util/model_path.h"
#include "vigil/util/options_fields.h"

namespace vigil::map {
namespace fs = std::filesystem;
using nlohmann::json;

void MapBuildOptions::Check() const {
  extractor.Check();
  reference_run.Check();
  selection.Check();
  VIGIL_CHECK_OPTION(max_pixels >= 1, "max_pixels",
                     fmt::format("must be >= 1, got {}", max_pixels));
  VIGIL_CHECK_OPTION(deep_features == "auto" || deep_features == "yes" || deep_features == "no",
                     "deep_features", fmt::format("must be auto, yes or no, got '{}'", deep_features));
  dense_deep.Check();
}

namespace {

// The extractor's sub-options that apply to `type`: "superpoint" for superpoint, "aliked" for
// aliked-n16 and the other ALIKED models.
bool AppliesTo(const std::string& key, const std::string& type) {
  return type == key || type.rfind(key + "-", 0) == 0;
}

json ContentOptions(const MapBuildOptions& options) {
  json j = OptionsToJson(options);
  json& extractor = j["extractor"];
  extractor.erase("num_threads");
  const std::string type = options.extractor.type;
  for (auto it = extractor.begin(); it != extractor.end();) {
    if (it.value().is_object() && !AppliesTo(it.key(), type)) {
      it = extractor.erase(it);
    } else {
      ++it;
    }
  }
  j["selection"] = {{"thumbnail_width", options.selection.thumbnail_width},
                    {"thumbnail_height", options.selection.thumbnail_height}};
  // The gem descriptor's kind and shape; left out for the thumbnail so that maps built before
  // there was a choice keep their identity. Whitening is learned at selection time (the map
  // stores descriptors before it) and the model file is identified by MapBuildIdentity.
  if (options.selection.appearance_descriptor != "thumbnail") {
    const json place = OptionsToJson(options.selection.place);
    j["selection"]["appearance_descriptor"] = options.selection.appearance_descriptor;
    j["selection"]["place"] = {{"tap", place["tap"]},
                               {"gem_p", place["gem_p"]},
                               {"short_side", place["short_side"]},
                               {"scales", place["scales"]},
                               {"fuse_thumbnail", place["fuse_thumbnail"]}};
  }
  j.erase("max_pixels");
  j.erase("strict");
  j.erase("calibration_file");
  j.erase("deep_features");  // stored deep features carry their own key (map_store.h)
  j.erase("dense_deep");
  j.erase("dense_deep_model");
  return j;
}

// io::ReadImage within the pixel budget (the rule of InspectorOptions::max_pixels).
cv::Mat ReadFrame(const fs::path& path, int64_t max_pixels) {
  cv::Mat image = io::ReadImage(path);
  const int64_t pixels = static_cast<int64_t>(image.cols) * image.rows;
  VIGIL_CHECK(pixels <= max_pixels,
              "{}: {}x{} = {:.1f} MP exceeds the pixel budget of {:.1f} MP (--max-pixels {})",
              path.string(), image.cols, image.rows, pixels / 1e6, max_pixels / 1e6, max_pixels);
  return image;
}

json ReadCalibration(const fs::path& path) {
  std::ifstream in(path);
  VIGIL_CHECK(in, "{}: cannot read the calibration file", path.string());
  try {
    json j = json::parse(in);
    VIGIL_CHECK(j.is_object(), "{}: the calibration must be a JSON object", path.string());
    return j;
  } catch (const json::exception& e) {
    ThrowError(fmt::format("{}: not a JSON calibration file: {}", path.string(), e.what()));
  }
}

// The deep feature computer the options ask for, or none (with the reason in *note for "auto"
// without the model). The thread count does not change the features (as for the extractor).
std::optional<dense::DeepFeatureComputer> DeepComputer(const MapBuildOptions& options, std::string* note) {
  if (options.deep_features == "no") return std::nullopt;
  std::string model;
  try {
    model = FindModelFile(options.dense_deep_model, dense::DeepModelSpec()).string();
  } catch (const Error& e) {
    if (options.deep_features == "yes") throw;
    *note = fmt::format("deep features not stored: {}", e.what());
    return std::nullopt;
  }
  return dense::DeepFeatureComputer(model, options.dense_deep, options.extractor.num_threads);
}

enum class Mode { kBuild, kAdd };

MapBuildSummary Build(const fs::path& run_dir, const fs::path& map_path,
                      const MapBuildOptions& options, Mode mode, const CancelToken* cancel,
                      const MapProgressFn& progress) {
  const auto start = std::chrono::steady_clock::now();
  options.Check();
  // The calibration is read first so that a bad file fails before any work.
  std::optional<json> calibration;
  if (!options.calibration_file.empty()) calibration = ReadCalibration(options.calibration_file);
  const retrieval::Run run = retrieval::LoadRun(run_dir, options.reference_run);
  std::unique_ptr<FeatureExtractor> extractor = FeatureExtractor::Create(options.extractor);
  // The appearance descriptor the selection options choose; no thumbnail fallback here: the map
  // records which descriptor it stores.
  retrieval::AppearanceDescriber describer(options.selection, /*allow_fallback=*/false);
  const json identity = MapBuildIdentity(options, *extractor);
  MapBuildSummary summary;
  std::optional<dense::DeepFeatureComputer> deep = DeepComputer(options, &summary.deep_features_note);
  const std::string deep_key = deep ? deep->Key() : "";

  if (mode == Mode::kAdd) {
    std::error_code error;
    VIGIL_CHECK(fs::is_regular_file(map_path, error),
                "{}: no such map file (vigil map build makes one)", map_path.string());
  }
  MapStore store = MapStore::Create(map_path, identity);
  const std::optional<int> known_run = store.FindRun(run_dir);
  if (mode == Mode::kBuild && !known_run) {
    const std::vector<MapRunRecord> runs = store.Runs();
    VIGIL_CHECK(runs.empty(), "{}: the map was built from {}, not {}; vigil map add adds a run",
                map_path.string(), runs.front().dir.string(), run_dir.string());
  }
  summary.map_path = map_path;
  summary.run_index = store.AddRun(run_dir, retrieval::PoseSourceName(run.pose_source));
  summary.frames_in_run = static_cast<int>(run.frames.size());
  if (calibration) store.SetCalibration(*calibration);

  for (size_t i = 0; i < run.frames.size(); ++i) {
    if (cancel) cancel->ThrowIfCancelled();
    const retrieval::RunFrame& frame = run.frames[i];
    const std::string name = frame.image.filename().string();
    if (std::optional<MapFrameRecord> stored = store.FindFrame(name)) {
      VIGIL_CHECK(stored->run == summary.run_index,
                  "{}: frame {} of {} is in the map already, from run {}; frame names must be "
                  "unique in a map",
                  map_path.string(), name, run_dir.string(), stored->run);
      ++summary.frames_resumed;
      // A frame stored without these deep features (before they existed, or with other deep
      // settings) gets them now, in a transaction of its own.
      if (deep && !store.HasDeepFeatures(stored->index, deep_key)) {
        store.AddDeepFeatures(stored->index, {deep_key, (*deep)(store.LoadGray(stored->index))});
        ++summary.deep_features_added;
      }
    } else {
      cv::Mat image;
      try {
        image = ReadFrame(frame.image, options.max_pixels);
      } catch (const Error& e) {
        if (options.strict) throw;
        summary.skipped.push_back({frame.image.string(), e.what()});
      }
      if (!image.empty()) {
        const Features features = extractor->Extract(image);
        const std::vector<float> global = describer.Describe(image);
        MapFrameRecord record;
        record.run = summary.run_index;
        record.frame = frame;
        record.frame.image = name;
        record.width = image.cols;
        record.height = image.rows;
        const cv::Mat gray = io::ToGray(image, frame.image.string());
        std::optional<StoredDeepFeatures> stored_deep;
        if (deep) stored_deep = StoredDeepFeatures{deep_key, (*deep)(gray)};
        store.AddFrame(record, features, global, gray, stored_deep ? &*stored_deep : nullptr);
        ++summary.frames_added;
        summary.deep_features_added += stored_deep.has_value();
      }
    }
    if (progress) progress(i + 1, run.frames.size());
  }
  summary.frames_in_map = store.NumFrames();
  summary.map_stats = store.Stats();
  // Readers present at the writer's close keep SQLite from folding the WAL into the file; do it
  // now so that the finished map is the one file (a later writer or close retries otherwise).
  store.Checkpoint();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace

json MapBuildIdentity(const MapBuildOptions& options, const FeatureExtractor& extractor) {
  json identity = {{"schema", kMapSchemaVersion},
                   {"extractor", extractor.name()},
                   {"options", ContentOptions(options)},
                   {"models", ModelIdentities(extractor.model_files())}};
  if (options.selection.appearance_descriptor == "gem") {
    // The backbone of the stored descriptors; "not found" makes an inspection without it (which
    // would fall back to the thumbnail) differ from the map.
    try {
      identity["appearance_model"] = ModelIdentity(retrieval::FindPlaceModel(options.selection.place));
    } catch (const Error&) {
      identity["appearance_model"] = "not found";
    }
  }
  return identity;
}

MapBuildOptions MapBuildOptionsFromIdentity(const json& build_identity) {
  VIGIL_CHECK(build_identity.is_object() && build_identity.contains("options"),
              "map build identity without options: {}", build_identity.dump().substr(0, 200));
  MapBuildOptions options;
  OptionsFromJson(build_identity["options"], &options, "map options");
  return options;
}

MapBuildSummary BuildMap(const fs::path& run_dir, const fs::path& map_path,
                         const MapBuildOptions& options, const CancelToken* cancel,
                         const MapProgressFn& progress) {
  return Build(run_dir, map_path, options, Mode::kBuild, cancel, progress);
}

MapBuildSummary AddRunToMap(const fs::path& run_dir, const fs::path& map_path,
                            const MapBuildOptions& options, const CancelToken* cancel,
                            const MapProgressFn& progress) {
  return Build(run_dir, map_path, options, Mode::kAdd, cancel, progress);
}

}  // namespace vigil::map
