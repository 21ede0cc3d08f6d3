// The run driver behind `vigil inspect`: a reference run, a query run, and per query image
//   select the reference (retrieval/) -> extract and match (features/, matching/) ->
//   segment the query (segmentation/) -> DetectChanges (Algorithm 1) -> write outputs.
// Outputs in out_dir, each written atomically (temporary name, then rename):
//   <query stem>.json          the result (inspection/result_io.h)
//   masks/<query stem>.png     the predicted change mask (0 = unchanged, 255 = change)
//   scores/<query stem>.tiff   dense evidence: the float score map (threshold in the JSON)
//   panels/<query stem>.png    the Fig. 8-style panel (inspection/panel.h)
//   events.json                the change events: one per change seen over consecutive frames
//   skipped.json               the frames that could not be used, with the reason
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
#include "vigil/dense/change_map.h"
#include "vigil/dense/deep_change.h"
#include "vigil/dense/region_significance.h"
#include "vigil/events/events.h"
#include "vigil/features/extractor.h"
#include "vigil/inspection/change_detector.h"
#include "vigil/inspection/frame_result.h"
#include "vigil/matching/matcher.h"
#include "vigil/matching/verification.h"
#include "vigil/report/frame_record.h"
#include "vigil/retrieval/reference_selector.h"
#include "vigil/retrieval/run.h"
#include "vigil/segmentation/segmenter.h"
#include "vigil/util/progress.h"

namespace vigil {
namespace map {
class MapStore;
}

struct InspectorOptions {
  FeatureExtractorOptions extractor;
  MatcherOptions matcher;
  std::string calibration_file;  // calibration.json from `vigil calibrate`; sets the threshold
  SegmenterOptions segmenter;
  bool segment = true;           // false: no instance segmentation (DBSCAN only)
  // When the segmenter runs: "evidence" (default) only on frames where Algorithm 1 without
  // instances already finds a change (a DBSCAN cluster or a missing object) or withholds some,
  // then Algorithm 1 again with the instances; "confirmed" only where that first pass's
  // evidence also survives the confirmation (fewer frames: on changes-freiburg 16 instead of
  // 21 of 24, F1 0.77 against 0.76, but one textureless object that only a segment finds is
  // lost, so it is not the default); "always" on every frame (the paper). The
  // segmenter costs about one SuperPoint extraction per frame, and on a clean route most frames
  // have no evidence, so "evidence" is what makes a live rate possible (bench/README.md). The
  // dense evidence never needs it (its regions come from the change map).
  std::string segment_when = "evidence";
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
  // How the keypoint evidence's candidates are confirmed by further views:
  //  "keypoints": the second view's own Algorithm 1 must show the same kind of change there
  //               (ConfirmWithSecondView, above);
  //  "dense":     the dense change map against the verified references (a pixel's score is its
  //               minimum over them, as for dense evidence: one rule for any number of views)
  //               must make the candidate's region significant (dense/region_significance.h)
  //               against its null (dense_confirm.null): the query's own map ("frame") or the
  //               reference run's change-free maps ("run"; without neighbouring frames that
  //               verify, it falls back to "keypoints");
  //  "keypoints+dense": both must confirm.
  // Default chosen on changes-freiburg, the only run with ground truth here (README results).
  std::string confirmation = "keypoints+dense";
  dense::RegionTestOptions dense_confirm;
  // Every reference, pose-chosen, appearance-chosen or fixed, must show the query's place
  // (matching/verification.h CheckView). One that fails is replaced by the next candidate that
  // passes; when none does, the frame is a localization error, never "no change".
  ViewCheckOptions view_check;
  // When every pose candidate fails verification, search the whole run by appearance (its
  // top selection.appearance_top_k, verified; rule "+relocalized") before declaring the frame
  // not inspectable. Either way a pose-chosen frame whose appearance-first reference (outside
  // the pose candidates) verifies with more inliers says so in its JSON (appearance_prefers).
  bool relocalize = true;
  // The change evidence: "auto" (dense for a fixed pairing, pairs or one reference image, where
  // the views are aligned; keypoints for runs, where dense scores still fire on parallax: see
  // the README's results), "keypoints" (the paper's Algorithm 1 with vigil's additions) or
  // "dense" (dense/change_map.h: every query pixel compared with the verified references,
  // registered by their homography; a pixel's score is its minimum over the references that see
  // it, the threshold is calibrated on clean pairs simulated from the reference images at
  // `dense_false_alarm_rate`).
  std::string evidence = "auto";
  dense::DenseChangeOptions dense;
  double dense_false_alarm_rate = 1e-3;  // share of clean valid pixels allowed above threshold
  int dense_max_references = 2;          // verified references whose scores are combined
  // How each verified reference is registered into the query for the dense comparison:
  // "homography" (the verification's plane, or the dominant plane's refit), "flow" (a dense
  // flow interpolated from the verified inlier matches, dense/registration.h: 3-D scenes with
  // parallax) or "auto" (for runs, the homography when one plane explains the scene, else the
  // flow; for a fixed pairing, the homography: ResolvedDenseRegistration). A fundamental matrix keeps at least as many
  // inliers as a homography, being the looser model, so counts cannot decide; Torr's model
  // selection as ORB-SLAM scores it does (matching/verification.h HomographyScoreShare): the
  // plane when its share of the two scores exceeds dense_plane_share, ORB-SLAM2's 0.40.
  // Measured: deeppcb-dev pairs 0.36-0.46, changes-freiburg pairs 0.11-0.37.
  std::string dense_registration = "auto";
  double dense_plane_share = 0.40;
  dense::FlowRegistrationOptions dense_flow;
  // Where the dense threshold comes from: "neighbours" (each of up to 20 reference frames
  // scored against its neighbours in the run exactly as a query is: clean real view changes),
  // "simulated" (each reference against itself after a half-pixel shift and a JPEG
  // re-encoding, dense::SimulateCleanQuery; what `vigil calibrate` stores) or "auto"
  // (simulated for a fixed pairing, whose references are of different objects, else
  // neighbours).
  std::string dense_calibration = "auto";
  // What the dense map compares: "photometric" (gain/offset-normalised intensities,
  // dense/change_map.h; weight-free) or "deep" (MobileNetV2 features, dense/deep_change.h; its
  // model on the search path or at dense_deep_model). See the README's results for which one
  // each kind of data uses by default ("auto").
  std::string dense_channel = "auto";
  dense::DeepChangeOptions dense_deep;
  std::string dense_deep_model;  // ONNX file; empty = dense::DeepModelSpec() on the search path
  events::EventOptions events;    // how sightings in consecutive frames become one change event
  bool resume = true;            // skip queries already done with the same configuration
  bool write_panels = true;      // panels/<stem>.png
  bool show_progress = true;     // progress bar on stderr
  // Reference frames whose pixels, features and deep features stay in memory between queries,
  // the most recently used first (about 2 MB each, 6 MB with the deep channel, at 640x480). A
  // live node or a long mission against a large map touches every reference of its route, and
  // without a bound it would keep them all. Evicting changes no result: a reference used again
  // is read and extracted again, identically. >= 1; not part of the configuration identity.
  int max_cached_references = 64;
  // Queries that RunInspection inspects at once, at most the threads (extractor.num_threads,
  // --threads: the run's CPU budget). Each worker holds an Inspector of its own (models,
  // reference caches) with threads / jobs compute threads, and takes the next few consecutive
  // queries of the run, so that two workers seldom need the same reference. Why: the stages' own
  // threading keeps a 2-core machine about 1.5 cores busy on average, two single-threaded
  // queries at once about 1.8 (bench/README.md "Workers"). Results do not depend on it (tested),
  // nor on the thread count, which the configuration identity leaves out. >= 1; not part of the
  // identity.
  int jobs = 2;
  // A frame that cannot be decoded (missing, corrupt, truncated PNG or JPEG) or is larger than
  // max_pixels is skipped and listed with its reason (InspectionSummary::skipped); with strict
  // the run stops at the first such frame instead.
  bool strict = false;
  // Pixel budget per image. SuperPoint needs about 0.55 GB per megapixel at full resolution
  // (bench/README.md), so 16 MP stays under 9 GB per worker (jobs): the default two workers
  // stay under 18 GB, inside a 24 GB machine with the models loaded (--jobs 1 halves it). A larger frame is refused with a message naming its size and
  // this option, never left to std::bad_alloc or the OOM killer.
  int64_t max_pixels = 16'000'000;
  // Fixed pairing instead of retrieval (template inspection, a fixed camera, a known pairing):
  // query file name -> reference file name. Empty = retrieval. With a one-image reference run
  // and single_reference, every query is compared with that image.
  std::map<std::string, std::string> pairs;
  bool single_reference = false;  // the reference run is one image, compared with every query
  // Sets the CPU threads of every model (extractor, matcher, segmenter, place descriptor) at
  // once, so that no front end (CLI, ROS node) can forget one.
  void SetNumThreads(int threads);
  // The evidence actually used: "auto" resolved by the pairing (see `evidence`).
  std::string ResolvedEvidence() const {
    if (evidence != "auto") return evidence;
    return single_reference || !pairs.empty() ? "dense" : "keypoints";
  }
  // Whether the dense change map can be computed: as the evidence, or to confirm keypoint
  // candidates ("auto" evidence counts, since a fixed pairing resolves it to dense).
  bool UsesDense() const { return evidence != "keypoints" || confirmation != "keypoints"; }
  // "auto" resolves when the Inspector is made (the deep channel for the dense confirmation of
  // runs when its model is found, else photometric); before that it reads as photometric.
  std::string ResolvedDenseChannel() const {
    if (dense_channel != "auto") return dense_channel;
    return "photometric";
  }
  // "auto" registration: for a fixed pairing (templates, a fixed camera) the homography, since
  // query and reference share one viewpoint and a flow interpolated from sparse matches would
  // only add its own error (deeppcb-dev pairs score 0.36-0.46 on the plane test, either side of
  // its 0.40); for runs, per pair by the plane test.
  std::string ResolvedDenseRegistration() const {
    if (dense_registration != "auto") return dense_registration;
    return single_reference || !pairs.empty() ? "homography" : "auto";
  }
  std::string ResolvedDenseCalibration() const {
    if (dense_calibration != "auto") return dense_calibration;
    return single_reference || !pairs.empty() ? "simulated" : "neighbours";
  }
  // What can change a result: every field but resume and show_progress (util/options_fields.h).
  // The configuration identity (Inspector::config) is derived from this list.
  template <class Self, class V>
  static void Fields(Self& s, V&& v) {
    v("extractor", s.extractor);
    v("matcher", s.matcher);
    v("calibration_file", s.calibration_file);
    v("segmenter", s.segmenter);
    v("segment", s.segment);
    v("segment_when", s.segment_when);
    v("reference_run", s.reference_run);
    v("query_run", s.query_run);
    v("selection", s.selection);
    v("detector", s.detector);
    v("confirm_with_second_reference", s.confirm_with_second_reference);
    v("second_view", s.second_view);
    v("confirmation", s.confirmation);
    if (s.confirmation != "keypoints") v("dense_confirm", s.dense_confirm);
    v("view_check", s.view_check);
    v("relocalize", s.relocalize);
    v("evidence", s.evidence);
    if (s.UsesDense()) {  // the dense settings matter only when they can be used
      v("dense", s.dense);
      v("dense_false_alarm_rate", s.dense_false_alarm_rate);
      v("dense_max_references", s.dense_max_references);
      v("dense_registration", s.dense_registration);
      v("dense_plane_share", s.dense_plane_share);
      v("dense_flow", s.dense_flow);
      v("dense_calibration", s.dense_calibration);
      v("dense_channel", s.dense_channel);
      if (s.dense_channel != "photometric") {  // "auto" may resolve to deep (ResolveDenseChannel)
        v("dense_deep", s.dense_deep);
        v("dense_deep_model", s.dense_deep_model);
      }
    }
    v("write_panels", s.write_panels);
    v("events", s.events);
    v("max_pixels", s.max_pixels);
    v("pairs", s.pairs);
    v("single_reference", s.single_reference);
  }
  void Check() const;
};

// One query's outcome in a run: its typed record, which the summary, the change events and
// the report read, and its JSON document (ToJson of its FrameResult, or the document an earlier
// run wrote, when resumed), from which the record was read (report/frame_record.h), so that a
// resumed frame is summarised exactly as a computed one.
struct QueryOutcome {
  std::string query;                // file name
  bool resumed = false;             // loaded from an earlier run, not recomputed
  report::FrameRecord record;
  nlohmann::json result;            // the per-query JSON document (FrameResultSchema)
};

// A frame the run could not use, with the reason (its read error).
using SkippedFrame = report::SkippedFrame;

struct InspectionSummary {
  std::vector<QueryOutcome> queries;
  std::vector<SkippedFrame> skipped;    // frames not used (InspectorOptions::strict = false)
  double threshold = 0;                 // matcher threshold used
  std::string threshold_source;         // "calibration <file>" | "matcher default" | "option"
  std::string segmenter;                // segmenter actually used ("none" when off)
  std::map<std::string, double> total_timings_ms;  // summed over computed queries, per stage
  nlohmann::json config;                // the configuration (hashed for resuming)
  nlohmann::json events = nlohmann::json::array();  // change events (events.json)
};

// The per-frame engine behind RunInspection and the ROS node: models loaded once, reference
// features cached, one query frame at a time. Not thread-safe: one Inspector per thread.
class Inspector {
 public:
  // Loads the extractor, matcher (threshold from the calibration file when given) and
  // segmenter. Throws vigil::Error on bad options, missing weights or a corrupt calibration.
  // With `map` (map/map_store.h, built from `reference`, kept alive by the caller), reference
  // features, global descriptors and pixels are read from it and no reference image is decoded
  // or extracted; results equal those of the run folder with the same settings. A map built
  // with other extractor settings or weights is refused, naming the differences.
  Inspector(retrieval::Run reference, const InspectorOptions& options,
            const map::MapStore* map = nullptr);
  ~Inspector();

  // Inspects one query image. `frame` gives its pose (optional) and file name; `index` is its
  // index in the query run (for retrieval's verifier). Writes nothing: see WriteFrameImages
  // and ToJson (inspection/frame_result.h).
  FrameResult InspectFrame(const retrieval::RunFrame& frame, int index, const cv::Mat& image);

  double threshold() const;                 // matcher threshold in use
  const std::string& threshold_source() const;
  const std::string& segmenter() const;     // "none" when segmentation is off
  const nlohmann::json& config() const;     // what the configuration hash covers
  const std::string& config_hash() const;
  const std::optional<CalibrationResult>& calibration() const;
  const retrieval::Run& reference() const;
  // The pixels of reference frame `index` as the inspection uses them (decoded colour, or a
  // map's gray), from the cache (a header sharing its buffer, valid after eviction).
  cv::Mat ReferencePixels(int index);

 private:
  struct Impl;
  static void UseMap(Impl& s, const map::MapStore& map);
  std::unique_ptr<Impl> impl_;
};

// Writes masks/<stem>.png (the change mask; zero when not inspectable), with dense evidence
// scores/<stem>.tiff (the float score map) and, when write_panel and the frame was inspected,
// panels/<stem>.png (inspection/panel.h, with the dense score's heat map), each atomically.
void WriteFrameImages(const std::filesystem::path& out_dir, const std::string& stem,
                      const FrameResult& result, const cv::Mat& query_image, bool write_panel);

// Reads a run frame's image within the pixel budget; throws vigil::Error naming the file and,
// when too large, its size and the max_pixels option.
cv::Mat ReadFrameImage(const std::filesystem::path& path, int64_t max_pixels);

// Reads an inspection pairs file ("query,reference" per row, an optional header row "query,reference"):
// query file name -> reference file name. Throws naming the file and line on a bad row or a
// query listed twice.
std::map<std::string, std::string> ReadInspectionPairs(const std::filesystem::path& path);

// RunInspection against a map file (`vigil map build`) instead of a reference folder: opened
// read-only (several processes may share it), its identity checked against `options`.
InspectionSummary RunInspectionWithMap(const std::filesystem::path& map_path,
                                       const std::filesystem::path& query_dir,
                                       const std::filesystem::path& out_dir,
                                       const InspectorOptions& options,
                                       const CancelToken* cancel = nullptr);

// Runs the inspection. `cancel` is checked between queries (throws vigil::Cancelled; outputs
// of finished queries stay valid). Throws vigil::Error on bad input (empty runs, unreadable
// images, corrupt calibration file, images of different sizes between runs are allowed but a
// query whose reference cannot be read is an error naming the file).
// `reference_dir` may be a run folder or one image file (then
// InspectorOptions::single_reference is implied).
InspectionSummary RunInspection(const std::filesystem::path& reference_dir,
                                const std::filesystem::path& query_dir,
                                const std::filesystem::path& out_dir,
                                const InspectorOptions& options,
                                const CancelToken* cancel = nullptr);

}  // namespace vigil
