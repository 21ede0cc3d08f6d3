// vigil map build|add|info: the reference map file (src/vigil/map/map_store.h, docs/map.md).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "vigil/map/map_builder.h"
#include "vigil/map/map_store.h"
#include "vigil/util/check.h"

#include "cli_common.h"
#include "commands.h"
#ifdef VIGIL_HAVE_ROS  // ROS hook: --reference may be a bag
#include "bag_input.h"
#endif

namespace vigil::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The progress bar needs the run's frame count, which BuildMap learns when it loads the run.
struct LazyProgress {
  explicit LazyProgress(bool enabled) : enabled(enabled) {}
  bool enabled;
  std::unique_ptr<ProgressBar> bar;
  map::MapProgressFn Callback() {
    return [this](size_t done, size_t total) {
      if (!bar) bar = std::make_unique<ProgressBar>("map", total, enabled);
      if (done == total) {
        bar->Finish();
      } else {
        bar->Advance();
      }
    };
  }
};

int Report(const map::MapBuildSummary& s, const std::string& verb) {
  // From the builder's own connection: reopening read-only here would leave -wal/-shm behind.
  const map::MapStats& stats = s.map_stats;
  std::printf(
      "%s: %s run %d: %d frames added, %d resumed, %zu skipped; the map has %d frames "
      "(%d posed), %.0f keypoints per frame; %.1f s\n",
      s.map_path.string().c_str(), verb.c_str(), s.run_index, s.frames_added, s.frames_resumed,
      s.skipped.size(), stats.num_frames, stats.num_posed, stats.mean_keypoints, s.seconds);
  std::printf("deep features: %d frames given them now, %d of %d frames have them%s%s\n",
              s.deep_features_added, stats.num_deep_feature_frames, stats.num_frames,
              s.deep_features_note.empty() ? "" : "; ", s.deep_features_note.c_str());
  if (s.skipped.empty()) return 0;
  std::fprintf(stderr, "vigil map: completed with %zu skipped frames:\n", s.skipped.size());
  for (const map::MapSkippedFrame& f : s.skipped) {
    std::fprintf(stderr, "  frame skipped: %s\n", f.reason.c_str());
  }
  return kExitSkippedFrames;
}

uintmax_t FileSize(const fs::path& path) {
  std::error_code error;
  const uintmax_t size = fs::file_size(path, error);
  return error ? 0 : size;
}

json InfoJson(const fs::path& path) {
  const map::MapStore store = map::MapStore::OpenReadOnly(path);
  const map::MapStats stats = store.Stats();
  const json identity = store.build_identity();
  json runs = json::array();
  for (const map::MapRunRecord& r : store.Runs()) {
    runs.push_back({{"index", r.index}, {"dir", r.dir.string()}, {"pose_source", r.pose_source}});
  }
  return {{"file", path.string()},
          {"schema_version", store.schema_version()},
          {"vigil_version", store.vigil_version()},
          {"created_utc", store.created_utc()},
          {"extractor", identity.value("extractor", "")},
          {"options", identity.value("options", json::object())},
          {"models", identity.value("models", json::array())},
          {"runs", runs},
          {"frames", stats.num_frames},
          {"posed_frames", stats.num_posed},
          {"mean_keypoints", stats.mean_keypoints},
          {"calibration", stats.has_calibration},
          {"deep_feature_frames", stats.num_deep_feature_frames},
          {"deep_feature_keys", stats.num_deep_feature_keys},
          // The WAL holds frames not yet checkpointed while a build runs or after a crash.
          {"file_bytes", FileSize(path) + FileSize(path.string() + "-wal")},
          {"integrity", store.IntegrityCheck()}};
}

void PrintInfo(const json& info) {
  std::printf("file:           %s (%.1f MiB)\n", info["file"].get<std::string>().c_str(),
              info["file_bytes"].get<double>() / (1 << 20));
  std::printf("schema:         %d (written by vigil %s, %s)\n", info["schema_version"].get<int>(),
              info["vigil_version"].get<std::string>().c_str(),
              info["created_utc"].get<std::string>().c_str());
  std::printf("extractor:      %s\n", info["extractor"].get<std::string>().c_str());
  std::printf("options:        %s\n", info["options"].dump().c_str());
  for (const json& m : info["models"]) {
    std::printf("model:          %s (%s bytes, mtime %s)\n", m.value("file", "").c_str(),
                m["size"].dump().c_str(), m["mtime"].dump().c_str());
  }
  for (const json& r : info["runs"]) {
    std::printf("run %d:          %s (poses: %s)\n", r["index"].get<int>(),
                r["dir"].get<std::string>().c_str(), r["pose_source"].get<std::string>().c_str());
  }
  std::printf("frames:         %d (%d posed)\n", info["frames"].get<int>(),
              info["posed_frames"].get<int>());
  std::printf("keypoints:      %.1f per frame (mean)\n", info["mean_keypoints"].get<double>());
  std::printf("calibration:    %s\n", info["calibration"].get<bool>() ? "yes" : "no");
  std::printf("deep features:  %d frames (%d settings)\n", info["deep_feature_frames"].get<int>(),
              info["deep_feature_keys"].get<int>());
  std::printf("integrity:      %s\n", info["integrity"].get<std::string>().c_str());
}

}  // namespace

int RunMap(int argc, char** argv) {
  CLI::App app{
      "The reference map file: a clean reference run's frames, poses, keypoint features, "
      "retrieval descriptors and gray images, computed once and stored in one SQLite "
      "file for every later inspection (docs/map.md).",
      "map"};
  app.require_subcommand(1);

#ifdef VIGIL_HAVE_ROS  // a run folder or a .bag (then --image-topic etc.), as for inspect
  const CLI::Validator& run_input = CLI::ExistingPath;
  BagInputFlags bag_flags;
#else
  const CLI::Validator& run_input = CLI::ExistingDirectory;
#endif
  // A bag is extracted once to <map>.d/bag_runs/<role>; the folder stays for resuming.
  auto run_folder = [&](const std::string& path, const std::string& map_path,
                        const std::string& role) {
#ifdef VIGIL_HAVE_ROS
    return RunFolderFor(path, bag_flags, map_path + ".d", role);
#else
    (void)map_path;
    (void)role;
    return path;
#endif
  };

  // build
  std::string build_reference, build_out, thumbnail = "64x48";
  ExtractorFlags extractor_flags;
  map::MapBuildOptions build_options;
  bool build_quiet = false, build_no_poses = false;
  CLI::App* build = app.add_subcommand(
      "build",
      "build (or resume) a map from a clean reference run; a map that exists with "
      "other settings is refused, naming them");
  build
      ->add_option("--reference", build_reference,
                   "reference run folder (images + optional "
                   "poses.csv or TUM trajectory)")
      ->required()
      ->check(run_input);
  build->add_option("--out", build_out, "map file to write, e.g. SITE.vmap")->required();
  build
      ->add_option("--calibration", build_options.calibration_file,
                   "calibration.json from vigil calibrate, stored in the map")
      ->check(CLI::ExistingFile);
  AddExtractorOptions(*build, extractor_flags);
  build
      ->add_option("--thumbnail-size", thumbnail,
                   "global retrieval descriptor thumbnail, WxH pixels")
      ->capture_default_str();
  build->add_flag("--no-poses", build_no_poses, "ignore the run's pose file");
  build
      ->add_option("--max-pixels", build_options.max_pixels,
                   "pixel budget per image; a larger frame is skipped with its size named")
      ->capture_default_str();
  build->add_flag("--strict", build_options.strict,
                  "stop at the first unreadable or oversized frame instead of skipping it "
                  "(skipping exits with code 3)");
  build
      ->add_option("--deep-features", build_options.deep_features,
                   "store each frame's deep features for the dense stage (about 3.8 MB per "
                   "640x480 frame): auto (when the model is found), yes, no")
      ->capture_default_str();
  std::vector<std::string> build_sets;
  build->add_option("--set", build_sets,
                    "PATH=VALUE: any map build option by its path, e.g. dense_deep.input_scale=1 "
                    "(as the inspection will use; repeatable)");
  build->add_flag("--quiet", build_quiet, "no progress bar");
#ifdef VIGIL_HAVE_ROS
  AddBagInputOptions(*build, bag_flags);
#endif

  // add
  std::string add_map, add_reference;
  int add_threads = 2;
  int64_t add_max_pixels = map::MapBuildOptions{}.max_pixels;
  bool add_strict = false, add_quiet = false;
  CLI::App* add = app.add_subcommand(
      "add", "add the frames of another clean run to a map, with the map's own settings");
  add->add_option("--map", add_map, "map file made by vigil map build")->required();
  add->add_option("--reference", add_reference, "run folder to add")->required()->check(run_input);
  add->add_option("--threads", add_threads, "CPU threads for inference")->capture_default_str();
  add->add_option("--max-pixels", add_max_pixels, "pixel budget per image")->capture_default_str();
  add->add_flag("--strict", add_strict, "stop at the first unreadable or oversized frame");
  std::string add_deep_features = "auto";
  add->add_option("--deep-features", add_deep_features,
                  "store the added frames' deep features: auto, yes, no")
      ->capture_default_str();
  add->add_flag("--quiet", add_quiet, "no progress bar");
#ifdef VIGIL_HAVE_ROS
  AddBagInputOptions(*add, bag_flags);
#endif

  // info
  std::string info_map;
  bool info_json = false;
  CLI::App* info = app.add_subcommand("info",
                                      "what a map holds, how it was built, and whether "
                                      "it is intact (PRAGMA integrity_check)");
  info->add_option("map", info_map, "map file")->required();
  info->add_flag("--json", info_json, "print JSON instead of text");

  return RunCommandWithStatus(app, argc, argv, [&]() -> int {
    CancelToken& cancel = InterruptToken();
    if (build->parsed()) {
      build_options.extractor = extractor_flags.Resolve();
      std::tie(build_options.selection.thumbnail_width, build_options.selection.thumbnail_height) =
          ParseSize(thumbnail, "--thumbnail-size");
      if (build_no_poses) build_options.reference_run.poses = "none";
      for (const std::string& assignment : build_sets) SetOptionField(&build_options, assignment);
      LazyProgress progress(!build_quiet);
      build_reference = run_folder(build_reference, build_out, "reference");
      const map::MapBuildSummary summary =
          map::BuildMap(build_reference, build_out, build_options, &cancel, progress.Callback());
      return Report(summary, "built");
    }
    if (add->parsed()) {
      map::MapBuildOptions options =
          map::MapBuildOptionsFromIdentity(map::MapStore::OpenReadOnly(add_map).build_identity());
      options.extractor.num_threads = add_threads;
      options.max_pixels = add_max_pixels;
      options.strict = add_strict;
      options.deep_features = add_deep_features;
      LazyProgress progress(!add_quiet);
      add_reference = run_folder(add_reference, add_map, fs::path(add_reference).stem().string());
      const map::MapBuildSummary summary =
          map::AddRunToMap(add_reference, add_map, options, &cancel, progress.Callback());
      return Report(summary, "added");
    }
    const json summary = InfoJson(info_map);
    if (info_json) {
      std::printf("%s\n", summary.dump(2).c_str());
    } else {
      PrintInfo(summary);
    }
    return summary["integrity"] == "ok" ? 0 : 1;
  });
}

}  // namespace vigil::cli
