// The run driver behind `vigil inspect`: a reference run, a query run, and per query image
//   select the reference (retrieval/) -> extract and match (features/, matching/) ->
//   segment the query (segmentation/) -> DetectChanges (Algorithm 1) -> write outputs.
// Outputs in out_dir, each written atomically (temporary name, then rename):
//   <query stem>.json          the result (inspection/result_io.h)
//   masks/<query stem>.png     the predicted change mask (0 = unchanged, 255 = change)
//   panels/<query stem>.png    the Fig. 8-style panel (inspection/panel.h)
//   report.html                the run report (report/html_report.h), written last
// Resuming: a query whose JSON exists with the same configuration hash is skipped, so an
// interrupted run continues where it stopped; a different configuration recomputes everything.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vigil/calibration/self_calibration.h"
#include "vigil/features/extractor.h"
#include "vigil/inspection/change_detector.h"
#include "vigil/matching/matcher.h"
#include "vigil/retrieval/reference_selector.h"
#include "vigil/retrieval/run.h"
#include "vigil/segmentation/segmenter.h"
#include "vigil/util/progress.h"

namespace vigil {

struct InspectorOptions {
  FeatureExtractorOptions extractor;
  MatcherOptions matcher;
  std::string calibration_file;  // calibration.json from `vigil calibrate`; sets the threshold
  SegmenterOptions segmenter;
  bool segment = true;           // false: no instance segmentation (DBSCAN only)
  retrieval::RunOptions reference_run;
  retrieval::RunOptions query_run;
  retrieval::ReferenceSelectorOptions selection;
  ChangeDetectorOptions detector;
  // Multi-view confirmation (change_detector.h, ConfirmWithSecondView): the query is also
  // compared with the best other reference the retrieval rule accepts (ReferenceChoice::
  // alternatives: the next-nearest pose, or the appearance runner-up), and anomalies that view
  // does not see are dropped as viewpoint artifacts.
  bool confirm_with_second_reference = true;
  SecondViewOptions second_view;      // what the second view must also show
  bool resume = true;            // skip queries already done with the same configuration
  bool write_panels = true;      // panels/<stem>.png
  bool show_progress = true;     // progress bar on stderr
  void Check() const;
};

// One query's outcome, as in its JSON (the full JSON is kept for the report).
struct QueryOutcome {
  std::string query;          // file name
  bool resumed = false;       // loaded from an earlier run, not recomputed
  nlohmann::json result;      // the per-query JSON document
};

struct InspectionSummary {
  std::vector<QueryOutcome> queries;
  double threshold = 0;                 // matcher threshold used
  std::string threshold_source;         // "calibration <file>" | "matcher default" | "option"
  std::string segmenter;                // segmenter actually used ("none" when off)
  std::map<std::string, double> total_timings_ms;  // summed over computed queries, per stage
  nlohmann::json config;                // the configuration (hashed for resuming)
};

// The per-frame engine behind RunInspection and the ROS node: models loaded once, reference
// features cached, one query frame at a time. Not thread-safe: one Inspector per thread.
class Inspector {
 public:
  // Loads the extractor, matcher (threshold from the calibration file when given) and
  // segmenter. Throws vigil::Error on bad options, missing weights or a corrupt calibration.
  Inspector(retrieval::Run reference, const InspectorOptions& options);
  ~Inspector();

  struct FrameResult {
    nlohmann::json json;            // the per-query document (inspection/result_io.h)
    ChangeDetectionResult detection;  // empty when no reference was found
    cv::Mat annotated;              // the query with its anomalies drawn (RenderAnomalyOverlay)
  };
  // Inspects one query image. `frame` gives its pose (optional) and file name; `index` is its
  // index in the query run (for retrieval's verifier). When out_dir is non-empty, writes
  // masks/<stem>.png and (if enabled) panels/<stem>.png there; the JSON is left to the caller.
  FrameResult InspectFrame(const retrieval::RunFrame& frame, int index, const cv::Mat& image,
                           const std::filesystem::path& out_dir, const std::string& stem);

  double threshold() const;                 // matcher threshold in use
  const std::string& threshold_source() const;
  const std::string& segmenter() const;     // "none" when segmentation is off
  const nlohmann::json& config() const;     // what the configuration hash covers
  const std::string& config_hash() const;
  const std::optional<CalibrationResult>& calibration() const;
  const retrieval::Run& reference() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs the inspection. `cancel` is checked between queries (throws vigil::Cancelled; outputs
// of finished queries stay valid). Throws vigil::Error on bad input (empty runs, unreadable
// images, corrupt calibration file, images of different sizes between runs are allowed but a
// query whose reference cannot be read is an error naming the file).
InspectionSummary RunInspection(const std::filesystem::path& reference_dir,
                                const std::filesystem::path& query_dir,
                                const std::filesystem::path& out_dir,
                                const InspectorOptions& options,
                                const CancelToken* cancel = nullptr);

}  // namespace vigil
