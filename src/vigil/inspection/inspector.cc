#include "vigil/inspection/inspector.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <sstream>
#include <optional>

#include "vigil/calibration/self_calibration.h"
#include "vigil/report/calibration_plot.h"
#include "vigil/inspection/panel.h"
#include "vigil/inspection/result_io.h"
#include "vigil/io/image_io.h"
#include "vigil/report/html_report.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/model_identity.h"
#include "vigil/util/options_fields.h"

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

// The output format: bumped when the rules or the JSON layout change, so that resuming an
// output folder made by an earlier vigil recomputes it.
constexpr int kOutputFormat = 3;

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
  std::map<std::string, int> reference_by_name;  // reference file name -> index (fixed pairs)
  std::optional<CalibrationResult> calibration;
  double threshold = 0;
  std::string threshold_source = "matcher setting";
  std::string segmenter_name = "none";
  json config;
  std::string config_hash;
  std::optional<dense::DenseCalibration> dense_calibration;

  // The dense threshold from the reference images alone: each of at most 20 frames spread
  // along the run is scored against itself after a simulated registration residual
  // (dense::SimulateCleanQuery). Calibrating on neighbouring reference frames instead (their
  // real viewpoint differences) was tried: on 0.3 m baselines their parallax sets a threshold
  // that no change reaches (recall 0 on the sample run), so it is not used.
  void CalibrateDense() {
    std::vector<dense::ChangeMap> clean;
    const int n = static_cast<int>(reference.frames.size());
    const int step = std::max(1, n / 20);
    std::map<std::string, double> timings;
    for (int i = 0; i < n; i += step) {
      const cv::Mat& image = ReferenceFeatures(i, &timings).image;
      clean.push_back(dense::ScorePair(dense::SimulateCleanQuery(image), image, cv::Mat(), options.dense));
    }
    dense_calibration = dense::CalibrateThreshold(clean, options.dense_false_alarm_rate);
  }

  // Dense anomalies against the verified references `refs` (query -> reference homographies).
  std::vector<Anomaly> DenseAnomalies(const cv::Mat& query_image, const std::vector<int>& refs,
                                      const std::vector<cv::Mat>& homographies,
                                      std::map<std::string, double>* timings) {
    const auto start = Clock::now();
    std::vector<dense::ChangeMap> maps;
    for (size_t k = 0; k < refs.size(); ++k) {
      maps.push_back(dense::ScorePair(query_image, ReferenceFeatures(refs[k], timings).image,
                                      homographies[k], options.dense));
    }
    const dense::ChangeMap combined = dense::MinOverReferences(maps);
    std::vector<Anomaly> anomalies;
    for (dense::DenseRegion& region :
         dense::ExtractRegions(combined, dense_calibration->threshold, options.dense)) {
      Anomaly a;
      a.kind = region.kind;
      a.source = "dense";
      a.score = region.score;
      a.bbox = region.bbox;
      a.mask = std::move(region.mask);
      anomalies.push_back(std::move(a));
    }
    (*timings)["dense"] = MsSince(start);
    return anomalies;
  }

  const ImageFeatures& ReferenceFeatures(int index, std::map<std::string, double>* timings) {
    auto it = reference_cache.find(index);
    if (it != reference_cache.end()) return it->second;
    const auto start = Clock::now();
    ImageFeatures entry;
    entry.image = ReadFrameImage(reference.frames[index].image, options.max_pixels);
    entry.features = extractor->Extract(entry.image);
    (*timings)["extract_reference"] += MsSince(start);
    return reference_cache.emplace(index, std::move(entry)).first->second;
  }

  FrameResult Inspect(const retrieval::RunFrame& frame, int q, const cv::Mat& query_image,
                      const fs::path& out_dir, const std::string& stem);
  // The fixed pairing's reference (InspectorOptions::pairs / single_reference), no retrieval.
  retrieval::ReferenceChoice FixedChoice(const retrieval::RunFrame& frame) const;
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
  std::map<int, ViewCheck> checks;
  auto check_view = [&](int r) -> const ViewCheck& {
    auto found = checks.find(r);
    if (found != checks.end()) return found->second;
    const Matches& m = match_with(r);
    const auto check_start = Clock::now();
    ViewCheck check = CheckView(query_features, ReferenceFeatures(r, &timings).features, m,
                                query_image.size(), options.view_check);
    timings["verify"] += MsSince(check_start);
    return checks.emplace(r, std::move(check)).first->second;
  };
  const bool fixed = options.single_reference || !options.pairs.empty();
  // Appearance candidates are ranked by geometric inliers, not by raw matches.
  retrieval::ReferenceChoice choice =
      fixed ? FixedChoice(frame)
            : selector->Select(frame, q, [&](int, int r) { return check_view(r).report.num_inliers; },
                               query_image);
  json verification = nullptr;
  if (choice.found()) {
    const int first = choice.reference_index;
    std::string reason = check_view(first).reason;
    if (!check_view(first).passed) {
      // Re-reference: the first alternative that passes, in the rule's own order.
      choice.reference_index = -1;
      for (size_t a = 0; a < choice.alternatives.size(); ++a) {
        if (check_view(choice.alternatives[a]).passed) {
          choice.reference_index = choice.alternatives[a];
          choice.alternatives.erase(choice.alternatives.begin() + static_cast<long>(a));
          choice.rule += "+reverified";
          break;
        }
      }
    }
    const int used = choice.found() ? choice.reference_index : first;
    const ViewCheck& check = check_view(used);
    verification = {{"passed", check.passed},
                    {"model", check.report.method},
                    {"matches", check.report.num_matches},
                    {"inliers", check.report.num_inliers},
                    {"inlier_ratio", check.report.inlier_ratio},
                    {"span", check.report.span},
                    {"reason", check.reason}};
    if (used != first) {
      verification["replaced"] = {{"image", reference.frames[first].image.filename().string()},
                                  {"reason", reason}};
    }
    if (!choice.found()) choice.rule = "failed-verification";
  }
  // Further views must pass the same check. Verified only when asked for, best first: checking
  // every pose candidate up front would match each of them for every query.
  auto verified_alternatives = [&](int count) {
    std::vector<int> views;
    for (int r : choice.alternatives) {
      if (static_cast<int>(views.size()) >= count) break;
      if (check_view(r).passed) views.push_back(r);
    }
    return views;
  };
  timings["retrieval"] = MsSince(start) - timings["match"] - timings["extract_reference"];

  FrameResult out;
  out.json = {{"query", frame.image.filename().string()},
              {"reference", ReferenceJson(reference, choice)},
              {"threshold", threshold},
              {"keypoints", {{"query", query_features.size()}}}};
  json& doc = out.json;
  doc["verification"] = verification;
  if (!choice.found()) {
    doc["localization_error"] = true;
    doc["note"] = verification.is_null()
                      ? "no reference image qualifies (pose thresholds and appearance verification failed)"
                      : "not inspectable: no candidate reference passes geometric verification (" +
                            verification.value("reason", "") + ")";
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
  if (options.ResolvedEvidence() == "dense") {
    // One rule for every view: the score is the minimum over the verified references.
    std::vector<int> refs = {choice.reference_index};
    for (int r : verified_alternatives(options.dense_max_references - 1)) refs.push_back(r);
    std::vector<cv::Mat> homographies;
    for (int r : refs) {
      const ViewCheck& check = check_view(r);
      cv::Mat h = check.report.method == "homography" ? check.report.model : cv::Mat();
      if (h.empty()) {
        // A 3-D scene: the homography of the dominant plane, with the looser inlier threshold
        // of the overlap fit; the dense window absorbs the remaining parallax.
        VerificationOptions plane;
        plane.max_error_px = options.detector.overlap.homography_max_error_px;
        Matches copy = match_with(r);
        const VerificationReport fit = VerifyMatches(
            query_features, ReferenceFeatures(r, &timings).features, plane, &copy);
        if (fit.success) h = fit.model;
      }
      homographies.push_back(h);
    }
    if (!out.detection.localization_error) {
      out.detection.anomalies = DenseAnomalies(query_image, refs, homographies, &timings);
    }
    out.detection.unconfirmed.clear();
    json views = json::array();
    for (int r : refs) views.push_back(reference.frames[r].image.filename().string());
    second_json = {{"dense_references", views}, {"threshold", dense_calibration->threshold}};
  } else if (std::vector<int> second_views;
             options.confirm_with_second_reference && !result.anomalies.empty() &&
             !(second_views = verified_alternatives(1)).empty()) {
    // The best other reference the retrieval rule accepts that passes verification: the
    // next-nearest pose, or the runner-up by verified inliers when chosen by appearance.
    const int r2 = second_views.front();
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

retrieval::ReferenceChoice Inspector::Impl::FixedChoice(const retrieval::RunFrame& frame) const {
  retrieval::ReferenceChoice choice;
  if (options.single_reference) {
    choice.reference_index = 0;
    choice.rule = "single-reference";
    return choice;
  }
  const std::string query = frame.image.filename().string();
  const auto pair = options.pairs.find(query);
  VIGIL_CHECK(pair != options.pairs.end(), "{}: not listed in the pairs file", query);
  const auto ref = reference_by_name.find(pair->second);
  // A listed reference that was skipped (unreadable) leaves its queries without a reference:
  // they are reported as not inspectable, never as unchanged.
  if (ref == reference_by_name.end()) return choice;
  choice.reference_index = ref->second;
  choice.rule = "pairs";
  return choice;
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
  for (int i = 0; i < static_cast<int>(s.reference.frames.size()); ++i) {
    s.reference_by_name[s.reference.frames[i].image.filename().string()] = i;
  }
  // Derived, not transcribed: every option that can change a result (InspectorOptions::Fields),
  // the identity of every model file loaded, the calibration's content, the threshold in use,
  // the reference run and the output format.
  json models = {{"extractor", ModelIdentities(s.extractor->model_files())},
                 {"matcher", ModelIdentities(s.matcher->model_files())},
                 {"segmenter", s.segmenter ? ModelIdentities(s.segmenter->model_files()) : json::array()}};
  if (!options.calibration_file.empty()) models["calibration"] = ModelIdentity(options.calibration_file);
  json reference_frames = json::array();
  for (const auto& f : s.reference.frames) reference_frames.push_back(f.image.filename().string());
  s.config = {{"extractor", s.extractor->name()},
              {"matcher", s.matcher->name()},
              {"threshold", s.threshold},
              {"segmenter", s.segmenter_name},
              {"options", OptionsToJson(options)},
              {"models", models},
              {"reference", fs::absolute(s.reference.dir).lexically_normal().string()},
              {"reference_frames", reference_frames},
              {"format", kOutputFormat}};
  if (options.ResolvedEvidence() == "dense") {
    s.CalibrateDense();
    s.config["dense_threshold"] = s.dense_calibration->threshold;
  }
  s.config["evidence"] = options.ResolvedEvidence();
  s.config_hash = ConfigHash(s.config);
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
  view_check.Check();
  VIGIL_CHECK_OPTION(evidence == "auto" || evidence == "keypoints" || evidence == "dense", "evidence",
                     fmt::format("must be auto, keypoints or dense, got '{}'", evidence));
  if (evidence != "keypoints") {
    dense.Check();
    VIGIL_CHECK_OPTION(dense_false_alarm_rate > 0 && dense_false_alarm_rate < 1, "dense_false_alarm_rate",
                       fmt::format("must be in (0, 1), got {}", dense_false_alarm_rate));
    VIGIL_CHECK_OPTION(dense_max_references >= 1, "dense_max_references",
                       fmt::format("must be >= 1, got {}", dense_max_references));
  }
  VIGIL_CHECK_OPTION(max_pixels >= 1, "max_pixels", fmt::format("must be >= 1, got {}", max_pixels));
  VIGIL_CHECK_OPTION(!(single_reference && !pairs.empty()), "pairs",
                     "a single reference image and a pairs file exclude each other");
}

void InspectorOptions::SetNumThreads(int threads) {
  VIGIL_CHECK_OPTION(threads >= 1, "threads", fmt::format("must be >= 1, got {}", threads));
  extractor.num_threads = matcher.num_threads = segmenter.num_threads = threads;
}

cv::Mat ReadFrameImage(const fs::path& path, int64_t max_pixels) {
  cv::Mat image = io::ReadImage(path);
  const int64_t pixels = static_cast<int64_t>(image.cols) * image.rows;
  VIGIL_CHECK(pixels <= max_pixels,
              "{}: {}x{} = {:.1f} MP exceeds the pixel budget of {:.1f} MP (--max-pixels {}); "
              "resize the image or raise --max-pixels if the machine has the memory",
              path.string(), image.cols, image.rows, pixels / 1e6, max_pixels / 1e6, max_pixels);
  return image;
}

std::map<std::string, std::string> ReadInspectionPairs(const fs::path& path) {
  // The calibration's pairs reader already parses this layout (header row, comments, errors
  // naming file and line); inspection only needs the two file names of each row.
  std::map<std::string, std::string> pairs;
  for (const ImagePairSpec& spec : ReadPairsCsv(path)) {
    VIGIL_CHECK(!spec.image1.empty(), "{}: the row for {} names no reference image", path.string(),
                spec.image0.filename().string());
    const std::string query = spec.image0.filename().string();
    VIGIL_CHECK(pairs.emplace(query, spec.image1.filename().string()).second,
                "{}: query {} is listed twice", path.string(), query);
  }
  VIGIL_CHECK(!pairs.empty(), "{}: no pairs", path.string());
  return pairs;
}

namespace {

// Drops the frames that cannot be read within the pixel budget, recording why; with strict,
// the first one is an error. Decoding every reference once up front is what makes a corrupt
// reference frame a named skip instead of an abort in the middle of the run.
void DropUnreadableFrames(retrieval::Run* run, const std::string& role, const InspectorOptions& options,
                          std::vector<SkippedFrame>* skipped) {
  std::vector<retrieval::RunFrame> kept;
  for (retrieval::RunFrame& frame : run->frames) {
    try {
      ReadFrameImage(frame.image, options.max_pixels);
      kept.push_back(std::move(frame));
    } catch (const Error& e) {
      if (options.strict) throw;
      skipped->push_back({frame.image.string(), role, e.what()});
    }
  }
  run->frames = std::move(kept);
}

retrieval::Run LoadReference(const fs::path& path, const InspectorOptions& options) {
  if (!fs::is_directory(path)) {
    VIGIL_CHECK(fs::is_regular_file(path), "{}: no such reference folder or image", path.string());
    retrieval::Run run;
    run.dir = path.parent_path();
    run.frames.push_back({path, std::nullopt, std::nullopt});
    return run;
  }
  return retrieval::LoadRun(path, options.reference_run);
}

}  // namespace

InspectionSummary RunInspection(const fs::path& reference_dir, const fs::path& query_dir,
                                const fs::path& out_dir, const InspectorOptions& options,
                                const CancelToken* cancel) {
  InspectorOptions run_options = options;
  if (!fs::is_directory(reference_dir)) run_options.single_reference = true;
  run_options.Check();
  retrieval::Run reference = LoadReference(reference_dir, run_options);
  retrieval::Run query = retrieval::LoadRun(query_dir, run_options.query_run);
  if (!run_options.pairs.empty()) {
    // A pairs file names the job: its queries, each with its reference.
    std::map<std::string, const retrieval::RunFrame*> by_name;
    for (const auto& f : query.frames) by_name[f.image.filename().string()] = &f;
    std::vector<retrieval::RunFrame> listed;
    for (const auto& [name, ref] : run_options.pairs) {
      VIGIL_CHECK(by_name.count(name), "{}: the pairs file lists query {}, which is not there",
                  query_dir.string(), name);
      listed.push_back(*by_name[name]);
    }
    query.frames = std::move(listed);
  }
  VIGIL_CHECK(!reference.frames.empty(), "{}: the reference run has no images", reference_dir.string());
  VIGIL_CHECK(!query.frames.empty(), "{}: the query run has no images", query_dir.string());
  InspectionSummary summary;
  DropUnreadableFrames(&reference, "reference", run_options, &summary.skipped);
  VIGIL_CHECK(!reference.frames.empty(), "{}: no reference image could be read ({} skipped: {})",
              reference_dir.string(), summary.skipped.size(),
              summary.skipped.empty() ? "" : summary.skipped.front().reason);
  Inspector inspector(std::move(reference), run_options);
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
    if (run_options.resume) {
      const std::optional<json> previous = ReadJsonIfValid(json_path);
      if (previous && previous->value("config_hash", "") == inspector.config_hash() &&
          fs::exists(out_dir / "masks" / (stem + ".png")) &&
          (!run_options.write_panels || fs::exists(out_dir / "panels" / (stem + ".png")))) {
        summary.queries.push_back({frame.image.filename().string(), true, *previous});
        progress.Advance();
        continue;
      }
    }
    cv::Mat image;
    try {
      image = ReadFrameImage(frame.image, run_options.max_pixels);
    } catch (const Error& e) {
      if (run_options.strict) throw;
      // No JSON and no mask are written for it, so it can never pass for "no change".
      summary.skipped.push_back({frame.image.string(), "query", e.what()});
      progress.Advance();
      continue;
    }
    json doc = inspector.InspectFrame(frame, q, image, out_dir, stem).json;
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
  json skipped = json::array();
  for (const SkippedFrame& s : summary.skipped) {
    skipped.push_back({{"image", s.image}, {"run", s.run}, {"reason", s.reason}});
  }
  report_input.skipped = skipped;
  // Always written, empty or not, so a stale list from an earlier run cannot survive.
  WriteTextFileAtomically(out_dir / "skipped.json", json{{"skipped", skipped}}.dump(1));
  if (inspector.calibration()) report_input.calibration_plot = RenderCalibrationPlot(*inspector.calibration());
  report::WriteInspectionReport(out_dir, report_input);
  return summary;
}

}  // namespace vigil
