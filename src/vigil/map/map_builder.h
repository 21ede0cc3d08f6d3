// Building a reference map (map_store.h) from a clean run: each frame is decoded once, its
// keypoint features, global retrieval descriptor and 8-bit gray image are computed and written
// in one transaction, in the run's recording order.
//
// Build identity: what decides the content of the map, as JSON:
//   {"schema": 1, "extractor": <extractor name>, "options": <MapBuildOptions, content fields only>,
//    "models": ModelIdentities(extractor model files)}
// The "options" are OptionsToJson(MapBuildOptions) less what cannot change a stored byte:
// extractor.num_threads, the sub-options of the extractors not chosen, the reference-selection
// thresholds (only selection.thumbnail_width/height, and for appearance_descriptor "gem" that
// name and place.tap/gem_p/short_side/scales/fuse_thumbnail, shape the stored global
// descriptor; "gem" adds "appearance_model": ModelIdentity of its backbone),
// max_pixels, strict and calibration_file (the calibration is stored as it is, not derived).
// An inspection computes MapBuildIdentity from its own options and compares it with the map's.
//
// Resuming: building into an existing map with the same identity skips the frames it has, so a
// build interrupted at any point (Ctrl-C, SIGKILL, power cut) and run again gives the same map
// as one uninterrupted build (extraction is deterministic for a fixed thread count; frames are
// visited in the same order, and a frame skipped as unreadable is skipped again).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vigil/dense/deep_change.h"
#include "vigil/features/extractor.h"
#include "vigil/map/map_store.h"
#include "vigil/retrieval/reference_selector.h"
#include "vigil/retrieval/run.h"
#include "vigil/util/progress.h"

namespace vigil::map {

struct MapBuildOptions {
  FeatureExtractorOptions extractor;              // keypoint features stored per frame
  retrieval::RunOptions reference_run;            // where the run's poses come from
  retrieval::ReferenceSelectorOptions selection;  // which global descriptor (and its shape)
  // Pixel budget per frame, as InspectorOptions::max_pixels: a larger frame is skipped with its
  // size named (or stops the build with strict).
  int64_t max_pixels = 16'000'000;
  bool strict = false;  // stop at the first unreadable or oversized frame instead of skipping it
  // calibration.json from `vigil calibrate`, stored in the map as it is; empty = none (an
  // existing map keeps the one it has).
  std::filesystem::path calibration_file;
  // Store each frame's deep features for the dense stage (map_store.h deep_features), computed
  // as an inspection with these dense_deep options and this model would compute them, so that
  // an inspection against the map runs no backbone on a reference. "auto": when the model is
  // found (else the map is built without them, said in the summary), "yes": the model must be
  // found, "no": never. Not part of the build identity: stored features carry their own key,
  // and an inspection with other deep settings computes its own.
  std::string deep_features = "auto";
  dense::DeepChangeOptions dense_deep;  // as InspectorOptions::dense_deep
  std::string dense_deep_model;         // as InspectorOptions::dense_deep_model ("" = search)
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("extractor", s.extractor);
    v("reference_run", s.reference_run);
    v("selection", s.selection);
    v("max_pixels", s.max_pixels);
    v("strict", s.strict);
    v("calibration_file", s.calibration_file);
    v("deep_features", s.deep_features);
    v("dense_deep", s.dense_deep);
    v("dense_deep_model", s.dense_deep_model);
  }
  void Check() const;
};

// The identity above for these options and this extractor instance (its name and model files).
nlohmann::json MapBuildIdentity(const MapBuildOptions& options, const FeatureExtractor& extractor);
// The options a map was built with (its identity's "options"), the fields left out of the
// identity at their defaults; `vigil map add` builds with these so that the run added matches.
MapBuildOptions MapBuildOptionsFromIdentity(const nlohmann::json& build_identity);

struct MapSkippedFrame {
  std::string image;   // path as listed by the run
  std::string reason;  // one line (the read error)
};

struct MapBuildSummary {
  std::filesystem::path map_path;
  int run_index = 0;                     // of the run just built or added
  int frames_in_run = 0;                 // frames the run lists
  int frames_added = 0;                  // computed and stored now
  int frames_resumed = 0;                // already in the map (an earlier, interrupted build)
  std::vector<MapSkippedFrame> skipped;  // unreadable or oversized (strict = false)
  int frames_in_map = 0;                 // after the build, over all runs
  MapStats map_stats;                    // of the whole map after the build
  int deep_features_added = 0;           // frames given deep features now (new or resumed)
  std::string deep_features_note;        // why none were stored ("auto" without the model)
  double seconds = 0;                    // wall time of the build
};

// progress(done, total) after every frame of the run (resumed ones included).
using MapProgressFn = std::function<void(size_t done, size_t total)>;

// Builds (or resumes) the map at `map_path` from the run folder `run_dir`. Throws vigil::Error
// when the map exists with another identity (naming the differing keys), holds frames of
// another run (use AddRunToMap), or a frame cannot be read with strict; vigil::Cancelled when
// `cancel` is set (checked between frames; the frames stored so far stay valid).
MapBuildSummary BuildMap(const std::filesystem::path& run_dir,
                         const std::filesystem::path& map_path, const MapBuildOptions& options,
                         const CancelToken* cancel = nullptr, const MapProgressFn& progress = {});

// Adds the frames of another clean run to an existing map, numbered after the frames it has.
// `options` must give the map's identity (MapBuildOptionsFromIdentity of the map's, with
// num_threads / max_pixels / strict as wanted). Throws naming the frame when a file name of the
// run is in the map from another run; a run added before is resumed.
MapBuildSummary AddRunToMap(const std::filesystem::path& run_dir,
                            const std::filesystem::path& map_path, const MapBuildOptions& options,
                            const CancelToken* cancel = nullptr,
                            const MapProgressFn& progress = {});

}  // namespace vigil::map
