#include "vigil/inspection/inspector.h"

#include <chrono>
#include <functional>
#include <optional>

#include "vigil/calibration/self_calibration.h"
#include "vigil/report/calibration_plot.h"
#include "vigil/inspection/panel.h"
#include "vigil/inspection/result_io.h"
#include "vigil/io/image_io.h"
#include "vigil/report/html_report.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"

namespace vigil {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct ImageFeatures {
  cv::Mat image;
  Features features;
};

json DetectorConfig(const ChangeDetectorOptions& d) {
  return {{"overlap", d.overlap.method},
          {"overlap_margin", d.overlap.margin_fraction},
          {"min_unmatched_excess", d.min_unmatched_excess},
          {"min_samples", d.min_samples},
          {"eps_px", d.eps_px},
          {"min_eps_px", d.min_eps_px},
          {"max_eps_px", d.max_eps_px},
          {"cluster_excess_rule", d.cluster_excess_rule},
          {"cluster_dilation_px", d.cluster_dilation_px},
          {"detect_missing", d.detect_missing},
          {"min_missing_inside_fraction", d.min_missing_inside_fraction},
          {"photometric", {{"enabled", d.photometric.enabled},
                           {"patch_radius", d.photometric.patch_radius},
                           {"search_radius", d.photometric.search_radius},
                           {"min_ncc", d.photometric.min_ncc}}},
          {"min_overlap_fraction", d.min_overlap_fraction},
          {"max_anomaly_fraction", d.max_anomaly_fraction},
          {"min_matches", d.min_matches}};
}

std::string HashConfig(const json& config) {
  return fmt::format("{:016x}", std::hash<std::string>{}(config.dump()));
}

std::optional<json> ReadJsonIfValid(const fs::path& path) {
  if (!fs::exists(path)) return std::nullopt;
  try {
    return json::parse(ReadFileToString(path));
  } catch (const std::exception&) {
    return std::nullopt;  // unreadable leftovers are recomputed
  }
}

json ReferenceJson(const retrieval::Run& reference, const retrieval::ReferenceChoice& choice) {
  auto number = [](double v) { return std::isnan(v) ? json(nullptr) : json(v); };
  return {{"image", choice.found()
                        ? json(reference.frames[choice.reference_index].image.filename().string())
                        : json(nullptr)},
          {"rule", choice.rule},
          {"distance_m", number(choice.distance_m)},
          {"angle_deg", number(choice.angle_deg)},
          {"appearance_score", number(choice.appearance_score)},
          {"verified_matches", choice.verified_matches}};
}

}  // namespace

struct Inspector::Impl {
  retrieval::Run reference;
  InspectorOptions options;
  std::unique_ptr<FeatureExtractor> extractor;
  std::unique_ptr<Matcher> matcher;
  std::unique_ptr<Segmenter> segmenter;
  std::unique_ptr<retrieval::ReferenceSelector> selector;
  std::map<int, ImageFeatures> reference_cache;  // reference index -> image + features
  std::optional<CalibrationResult> calibration;
  double threshold = 0;
  std::string threshold_source = "matcher setting";
  std::string segmenter_name = "none";
  json config;
  std::string config_hash;

  const ImageFeatures& ReferenceFeatures(int index, std::map<std::string, double>* timings) {
    auto it = reference_cache.find(index);
    if (it != reference_cache.end()) return it->second;
    const auto start = Clock::now();
    ImageFeatures entry;
    entry.image = io::ReadImage(reference.frames[index].image);
    entry.features = extractor->Extract(entry.image);
    (*timings)["extract_reference"] += MsSince(start);
    return reference_cache.emplace(index, std::move(entry)).first->second;
  }

  FrameResult Inspect(const retrieval::RunFrame& frame, int q, const cv::Mat& query_image,
                      const fs::path& out_dir, const std::string& stem);
};

Inspector::FrameResult Inspector::Impl::Inspect(const retrieval::RunFrame& frame, int q,
                                                const cv::Mat& query_image,
                                                const fs::path& out_dir, const std::string& stem) {
  std::map<std::string, double> timings;
  auto start = Clock::now();
  const Features query_features = extractor->Extract(query_image);
  timings["extract"] = MsSince(start);

  // Retrieval verifies candidates by matching; keep those matches for the chosen reference.
  std::map<int, Matches> matches_by_reference;
  auto match_with = [&](int r) -> const Matches& {
    auto found = matches_by_reference.find(r);
    if (found != matches_by_reference.end()) return found->second;
    const ImageFeatures& ref = ReferenceFeatures(r, &timings);
    const auto match_start = Clock::now();
    Matches m = matcher->Match(query_features, ref.features);
    timings["match"] += MsSince(match_start);
    return matches_by_reference.emplace(r, std::move(m)).first->second;
  };
  start = Clock::now();
  const retrieval::ReferenceChoice choice = selector->Select(
      frame, q, [&](int, int r) { return match_with(r).num_matches(); }, query_image);
  timings["retrieval"] = MsSince(start) - timings["match"] - timings["extract_reference"];

  FrameResult out;
  out.json = {{"query", frame.image.filename().string()},
              {"reference", ReferenceJson(reference, choice)},
              {"threshold", threshold},
              {"keypoints", {{"query", query_features.size()}}}};
  json& doc = out.json;
  if (!choice.found()) {
    doc["localization_error"] = true;
    doc["note"] = "no reference image qualifies (pose thresholds and appearance verification failed)";
    doc["anomalies"] = json::array();
    if (!out_dir.empty()) {
      io::WriteImage(out_dir / "masks" / (stem + ".png"), cv::Mat::zeros(query_image.size(), CV_8U));
    }
    doc["timings_ms"] = timings;
    out.annotated = RenderAnomalyOverlay(query_image, out.detection);
    return out;
  }
  const ImageFeatures& ref = ReferenceFeatures(choice.reference_index, &timings);
  const Matches& matches = match_with(choice.reference_index);

  start = Clock::now();
  std::vector<Instance> instances;
  if (segmenter) instances = segmenter->Segment(query_image);
  timings["segment"] = MsSince(start);

  start = Clock::now();
  ChangeDetectionInput input{&query_features, &ref.features, &matches, query_image.size(),
                             ref.image.size(), &instances, query_image, ref.image};
  out.detection = DetectChanges(input, options.detector);
  const ChangeDetectionResult& result = out.detection;
  json second_json = nullptr;
  if (options.confirm_with_second_reference && !choice.alternatives.empty() &&
      !result.anomalies.empty()) {
    // The best other reference the retrieval rule accepts: the next-nearest pose, or the
    // runner-up by verified matches when the reference was chosen by appearance.
    const int r2 = choice.alternatives.front();
    const ImageFeatures& ref2 = ReferenceFeatures(r2, &timings);
    const Matches& matches2 = match_with(r2);
    ChangeDetectionInput input2{&query_features, &ref2.features, &matches2, query_image.size(),
                                ref2.image.size(), &instances, query_image, ref2.image};
    const ChangeDetectionResult second = DetectChanges(input2, options.detector);
    const int dropped = ConfirmWithSecondView(second, options.second_view, &out.detection);
    const auto& pose2 = reference.frames[r2].pose;
    second_json = {{"image", reference.frames[r2].image.filename().string()},
                   {"distance_m", frame.pose && pose2
                                      ? json((frame.pose->position - pose2->position).norm())
                                      : json(nullptr)},
                   {"verified_matches", matches2.num_matches()},
                   {"localization_error", second.localization_error},
                   {"unconfirmed_anomalies", dropped}};
  }
  timings["detect"] = MsSince(start);

  start = Clock::now();
  out.annotated = RenderAnomalyOverlay(query_image, result);
  if (!out_dir.empty()) {
    io::WriteImage(out_dir / "masks" / (stem + ".png"), result.ChangeMask(query_image.size()));
    if (options.write_panels) {
      PanelInput panel{query_image, ref.image, &query_features, &matches, &instances, &result};
      io::WriteImage(out_dir / "panels" / (stem + ".png"), RenderInspectionPanel(panel));
    }
  }
  timings["write"] = MsSince(start);

  json polygon = json::array();
  for (const cv::Point& p : result.overlap.polygon) polygon.push_back({p.x, p.y});
  doc["keypoints"] = {{"query", query_features.size()},
                      {"reference", ref.features.size()},
                      {"matches", matches.num_matches()},
                      {"matched_in_overlap", result.matched_in_overlap.size()},
                      {"unmatched_in_overlap", result.unmatched_in_overlap.size()},
                      {"explained_by_reference", result.explained.size()}};
  doc["overlap"] = {{"method", result.overlap.method},
                    {"polygon", polygon},
                    {"area_fraction", result.overlap.area_fraction}};
  doc["localization_error"] = result.localization_error;
  doc["note"] = result.note;
  doc["eps_px"] = result.eps_px;
  doc["eps_note"] = result.eps_note;
  doc["withheld_anomalies"] = result.withheld_anomalies;
  doc["second_reference"] = second_json;
  doc["instances"] = instances.size();
  doc["anomalies"] = AnomaliesToJson(result.anomalies, query_features, ref.features);
  // What the second view dropped, for whoever wonders why a change was not reported.
  doc["unconfirmed_anomalies"] = AnomaliesToJson(result.unconfirmed, query_features, ref.features);
  for (const auto& [stage, ms] : matches.timings_ms) timings["matcher_" + stage] = ms;
  for (const auto& [stage, ms] : result.timings_ms) timings["detect_" + stage] = ms;
  doc["timings_ms"] = timings;
  return out;
}

Inspector::Inspector(retrieval::Run reference, const InspectorOptions& options)
    : impl_(std::make_unique<Impl>()) {
  options.Check();
  VIGIL_CHECK(!reference.frames.empty(), "{}: the reference run has no images",
              reference.dir.string());
  Impl& s = *impl_;
  s.reference = std::move(reference);
  s.options = options;
  MatcherOptions matcher_options = options.matcher;
  if (!options.calibration_file.empty()) {
    s.calibration = ReadCalibrationJson(options.calibration_file);
    matcher_options.set_threshold(static_cast<float>(s.calibration->threshold));
    s.threshold_source = "calibration " + options.calibration_file;
  }
  s.threshold = matcher_options.threshold();
  s.extractor = FeatureExtractor::Create(options.extractor);
  s.matcher = Matcher::Create(matcher_options);
  if (options.segment) {
    s.segmenter = Segmenter::Create(options.segmenter);
    s.segmenter_name = s.segmenter->name();
  }
  s.selector = std::make_unique<retrieval::ReferenceSelector>(s.reference, options.selection);
  s.config = {{"extractor", s.extractor->name()},
              {"matcher", s.matcher->name()},
              {"threshold", s.threshold},
              {"segmenter", s.segmenter_name},
              {"detector", DetectorConfig(options.detector)},
              {"confirm_with_second_reference", options.confirm_with_second_reference},
              {"second_view",
               {{"min_area_fraction", options.second_view.min_area_fraction},
                {"min_keypoint_share", options.second_view.min_keypoint_share},
                {"min_judged_keypoints", options.second_view.min_judged_keypoints}}},
              {"selection",
               {{"max_distance_m", options.selection.max_distance_m},
                {"max_angle_deg", options.selection.max_angle_deg},
                {"pose_tie_ratio", options.selection.pose_tie_ratio},
                {"pose_tie_break", retrieval::ToString(options.selection.pose_tie_break)}}},
              {"reference", fs::absolute(s.reference.dir).lexically_normal().string()},
              // Bumped when the detector's rules change, so that resuming recomputes old results.
              {"format", 2}};
  s.config_hash = HashConfig(s.config);
}

Inspector::~Inspector() = default;

Inspector::FrameResult Inspector::InspectFrame(const retrieval::RunFrame& frame, int index,
                                               const cv::Mat& image, const fs::path& out_dir,
                                               const std::string& stem) {
  VIGIL_CHECK(!image.empty(), "{}: empty query image", frame.image.string());
  return impl_->Inspect(frame, index, image, out_dir, stem);
}

double Inspector::threshold() const { return impl_->threshold; }
const std::string& Inspector::threshold_source() const { return impl_->threshold_source; }
const std::string& Inspector::segmenter() const { return impl_->segmenter_name; }
const json& Inspector::config() const { return impl_->config; }
const std::string& Inspector::config_hash() const { return impl_->config_hash; }
const std::optional<CalibrationResult>& Inspector::calibration() const { return impl_->calibration; }
const retrieval::Run& Inspector::reference() const { return impl_->reference; }

void InspectorOptions::Check() const {
  extractor.Check();
  matcher.Check();
  if (segment) segmenter.Check();
  reference_run.Check();
  query_run.Check();
  selection.Check();
  detector.Check();
  second_view.Check();
}

InspectionSummary RunInspection(const fs::path& reference_dir, const fs::path& query_dir,
                                const fs::path& out_dir, const InspectorOptions& options,
                                const CancelToken* cancel) {
  options.Check();
  retrieval::Run reference = retrieval::LoadRun(reference_dir, options.reference_run);
  const retrieval::Run query = retrieval::LoadRun(query_dir, options.query_run);
  VIGIL_CHECK(!reference.frames.empty(), "{}: the reference run has no images", reference_dir.string());
  VIGIL_CHECK(!query.frames.empty(), "{}: the query run has no images", query_dir.string());
  Inspector inspector(std::move(reference), options);
  InspectionSummary summary;
  summary.threshold = inspector.threshold();
  summary.threshold_source = inspector.threshold_source();
  summary.segmenter = inspector.segmenter();
  summary.config = inspector.config();
  EnsureDirectory(out_dir);

  ProgressBar progress("inspect", query.frames.size(), options.show_progress);
  for (int q = 0; q < static_cast<int>(query.frames.size()); ++q) {
    if (cancel) cancel->ThrowIfCancelled();
    const retrieval::RunFrame& frame = query.frames[q];
    const std::string stem = frame.image.stem().string();
    const fs::path json_path = out_dir / (stem + ".json");
    if (options.resume) {
      const std::optional<json> previous = ReadJsonIfValid(json_path);
      if (previous && previous->value("config_hash", "") == inspector.config_hash() &&
          fs::exists(out_dir / "masks" / (stem + ".png")) &&
          (!options.write_panels || fs::exists(out_dir / "panels" / (stem + ".png")))) {
        summary.queries.push_back({frame.image.filename().string(), true, *previous});
        progress.Advance();
        continue;
      }
    }
    json doc = inspector.InspectFrame(frame, q, io::ReadImage(frame.image), out_dir, stem).json;
    doc["config_hash"] = inspector.config_hash();
    for (const auto& [stage, ms] : doc["timings_ms"].items()) {
      summary.total_timings_ms[stage] += ms.get<double>();
    }
    // The JSON is written last: its presence means every output of this query is complete.
    WriteTextFileAtomically(json_path, doc.dump(1));
    summary.queries.push_back({frame.image.filename().string(), false, std::move(doc)});
    progress.Advance();
  }
  progress.Finish();

  report::InspectionReportInput report_input;
  report_input.title = fmt::format("vigil inspect: {} vs {}", query_dir.string(), reference_dir.string());
  report_input.config = summary.config;
  report_input.config["threshold_source"] = summary.threshold_source;
  for (const QueryOutcome& outcome : summary.queries) report_input.queries.push_back(outcome.result);
  report_input.total_timings_ms = summary.total_timings_ms;
  if (inspector.calibration()) report_input.calibration_plot = RenderCalibrationPlot(*inspector.calibration());
  report::WriteInspectionReport(out_dir, report_input);
  return summary;
}

}  // namespace vigil
