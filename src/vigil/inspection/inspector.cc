#include "vigil/inspection/inspector.h"

#include <chrono>
#include <functional>
#include <optional>

#include "vigil/calibration/self_calibration.h"
#include "vigil/inspection/panel.h"
#include "vigil/inspection/result_io.h"
#include "vigil/io/features_io.h"
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

// Everything the loop needs that does not change between queries.
struct Pipeline {
  std::unique_ptr<FeatureExtractor> extractor;
  std::unique_ptr<Matcher> matcher;
  std::unique_ptr<Segmenter> segmenter;
  std::map<int, ImageFeatures> reference_cache;  // reference index -> image + features
};

json DetectorConfig(const ChangeDetectorOptions& d) {
  return {{"overlap", d.overlap.method},
          {"min_unmatched_excess", d.min_unmatched_excess},
          {"min_samples", d.min_samples},
          {"eps_px", d.eps_px},
          {"min_eps_px", d.min_eps_px},
          {"max_eps_px", d.max_eps_px},
          {"cluster_excess_rule", d.cluster_excess_rule},
          {"cluster_dilation_px", d.cluster_dilation_px},
          {"detect_missing", d.detect_missing},
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

const ImageFeatures& ReferenceFeatures(const retrieval::Run& reference, int index,
                                       Pipeline& pipeline, std::map<std::string, double>* timings) {
  auto it = pipeline.reference_cache.find(index);
  if (it != pipeline.reference_cache.end()) return it->second;
  const auto start = Clock::now();
  ImageFeatures entry;
  entry.image = io::ReadImage(reference.frames[index].image);
  entry.features = pipeline.extractor->Extract(entry.image);
  (*timings)["extract_reference"] += MsSince(start);
  return pipeline.reference_cache.emplace(index, std::move(entry)).first->second;
}

json InspectQuery(const retrieval::Run& reference, const retrieval::Run& query, int q,
                  retrieval::ReferenceSelector& selector, Pipeline& pipeline,
                  const InspectorOptions& options, const fs::path& out_dir,
                  const std::string& stem) {
  std::map<std::string, double> timings;
  auto start = Clock::now();
  const cv::Mat query_image = io::ReadImage(query.frames[q].image);
  const Features query_features = pipeline.extractor->Extract(query_image);
  timings["extract"] = MsSince(start);

  // Retrieval verifies candidates by matching; keep those matches for the chosen reference.
  std::map<int, Matches> matches_by_reference;
  auto match_with = [&](int r) -> const Matches& {
    auto found = matches_by_reference.find(r);
    if (found != matches_by_reference.end()) return found->second;
    const ImageFeatures& ref = ReferenceFeatures(reference, r, pipeline, &timings);
    const auto match_start = Clock::now();
    Matches m = pipeline.matcher->Match(query_features, ref.features);
    timings["match"] += MsSince(match_start);
    return matches_by_reference.emplace(r, std::move(m)).first->second;
  };
  start = Clock::now();
  const retrieval::ReferenceChoice choice = selector.Select(
      query.frames[q], q, [&](int, int r) { return match_with(r).num_matches(); }, query_image);
  timings["retrieval"] = MsSince(start) - timings["match"] - timings["extract_reference"];

  json doc = {{"query", query.frames[q].image.filename().string()},
              {"reference", ReferenceJson(reference, choice)},
              {"keypoints", {{"query", query_features.size()}}}};
  if (!choice.found()) {
    doc["localization_error"] = true;
    doc["note"] = "no reference image qualifies (pose thresholds and appearance verification failed)";
    doc["anomalies"] = json::array();
    io::WriteImage(out_dir / "masks" / (stem + ".png"), cv::Mat::zeros(query_image.size(), CV_8U));
    doc["timings_ms"] = timings;
    return doc;
  }
  const ImageFeatures& ref = ReferenceFeatures(reference, choice.reference_index, pipeline, &timings);
  const Matches& matches = match_with(choice.reference_index);

  start = Clock::now();
  std::vector<Instance> instances;
  if (pipeline.segmenter) instances = pipeline.segmenter->Segment(query_image);
  timings["segment"] = MsSince(start);

  start = Clock::now();
  ChangeDetectionInput input{&query_features, &ref.features, &matches, query_image.size(),
                             ref.image.size(), &instances, query_image, ref.image};
  const ChangeDetectionResult result = DetectChanges(input, options.detector);
  timings["detect"] = MsSince(start);

  start = Clock::now();
  io::WriteImage(out_dir / "masks" / (stem + ".png"), result.ChangeMask(query_image.size()));
  if (options.write_panels) {
    PanelInput panel{query_image, ref.image, &query_features, &matches, &instances, &result};
    io::WriteImage(out_dir / "panels" / (stem + ".png"), RenderInspectionPanel(panel));
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
  doc["instances"] = instances.size();
  doc["anomalies"] = AnomaliesToJson(result.anomalies, query_features, ref.features);
  for (const auto& [stage, ms] : matches.timings_ms) timings["matcher_" + stage] = ms;
  for (const auto& [stage, ms] : result.timings_ms) timings["detect_" + stage] = ms;
  doc["timings_ms"] = timings;
  return doc;
}

}  // namespace

void InspectorOptions::Check() const {
  extractor.Check();
  matcher.Check();
  if (segment) segmenter.Check();
  reference_run.Check();
  query_run.Check();
  selection.Check();
  detector.Check();
}

InspectionSummary RunInspection(const fs::path& reference_dir, const fs::path& query_dir,
                                const fs::path& out_dir, const InspectorOptions& options,
                                const CancelToken* cancel) {
  options.Check();
  const retrieval::Run reference = retrieval::LoadRun(reference_dir, options.reference_run);
  const retrieval::Run query = retrieval::LoadRun(query_dir, options.query_run);
  VIGIL_CHECK(!reference.frames.empty(), "{}: the reference run has no images", reference_dir.string());
  VIGIL_CHECK(!query.frames.empty(), "{}: the query run has no images", query_dir.string());

  InspectionSummary summary;
  MatcherOptions matcher_options = options.matcher;
  summary.threshold_source = "matcher setting";
  std::optional<CalibrationResult> calibration;
  if (!options.calibration_file.empty()) {
    calibration = ReadCalibrationJson(options.calibration_file);
    matcher_options.set_threshold(static_cast<float>(calibration->threshold));
    summary.threshold_source = "calibration " + options.calibration_file;
  }
  summary.threshold = matcher_options.threshold();

  Pipeline pipeline;
  pipeline.extractor = FeatureExtractor::Create(options.extractor);
  pipeline.matcher = Matcher::Create(matcher_options);
  summary.segmenter = "none";
  if (options.segment) {
    pipeline.segmenter = Segmenter::Create(options.segmenter);
    summary.segmenter = pipeline.segmenter->name();
  }
  summary.config = {{"extractor", pipeline.extractor->name()},
                    {"matcher", pipeline.matcher->name()},
                    {"threshold", summary.threshold},
                    {"segmenter", summary.segmenter},
                    {"detector", DetectorConfig(options.detector)},
                    {"reference", fs::absolute(reference_dir).lexically_normal().string()},
                    {"format", 1}};
  const std::string config_hash = HashConfig(summary.config);
  EnsureDirectory(out_dir);

  retrieval::ReferenceSelector selector(reference, options.selection);
  ProgressBar progress("inspect", query.frames.size(), options.show_progress);
  for (int q = 0; q < static_cast<int>(query.frames.size()); ++q) {
    if (cancel) cancel->ThrowIfCancelled();
    const std::string stem = query.frames[q].image.stem().string();
    const fs::path json_path = out_dir / (stem + ".json");
    if (options.resume) {
      const std::optional<json> previous = ReadJsonIfValid(json_path);
      if (previous && previous->value("config_hash", "") == config_hash &&
          fs::exists(out_dir / "masks" / (stem + ".png"))) {
        summary.queries.push_back({query.frames[q].image.filename().string(), true, *previous});
        progress.Advance();
        continue;
      }
    }
    json doc = InspectQuery(reference, query, q, selector, pipeline, options, out_dir, stem);
    doc["threshold"] = summary.threshold;
    doc["config_hash"] = config_hash;
    for (const auto& [stage, ms] : doc["timings_ms"].items()) {
      summary.total_timings_ms[stage] += ms.get<double>();
    }
    // The JSON is written last: its presence means every output of this query is complete.
    WriteTextFileAtomically(json_path, doc.dump(1));
    summary.queries.push_back({query.frames[q].image.filename().string(), false, std::move(doc)});
    progress.Advance();
  }
  progress.Finish();

  report::InspectionReportInput report_input;
  report_input.title = fmt::format("vigil inspect: {} vs {}", query_dir.string(), reference_dir.string());
  report_input.config = summary.config;
  report_input.config["threshold_source"] = summary.threshold_source;
  for (const QueryOutcome& outcome : summary.queries) report_input.queries.push_back(outcome.result);
  report_input.total_timings_ms = summary.total_timings_ms;
  if (calibration) report_input.calibration_plot = RenderCalibrationPlot(*calibration);
  report::WriteInspectionReport(out_dir, report_input);
  return summary;
}

}  // namespace vigil
