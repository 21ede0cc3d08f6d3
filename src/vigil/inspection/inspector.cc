#include "vigil/inspection/inspector.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <opencv2/imgproc.hpp>

#include "vigil/calibration/self_calibration.h"
#include "vigil/events/events.h"
#include "vigil/report/calibration_plot.h"
#include "vigil/inspection/panel.h"
#include "vigil/inspection/result_io.h"
#include "vigil/io/image_io.h"
#include "vigil/map/map_builder.h"
#include "vigil/map/map_store.h"
#include "vigil/report/html_report.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/model_identity.h"
#include "vigil/util/options_fields.h"
#include "vigil/util/threads.h"

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

// Query `query`'s result from an earlier run in the same output folder, when it was computed
// with the configuration `config_hash` and reads as that query's frame result; anything else (no
// file, unreadable, another configuration, a damaged, hand-edited or copied document) is
// recomputed, never trusted.
std::optional<QueryOutcome> Resumable(const fs::path& path, const std::string& query,
                                      const std::string& config_hash) {
  if (!fs::exists(path)) return std::nullopt;
  try {
    json doc = json::parse(ReadFileToString(path));
    if (!doc.is_object() || doc.value("config_hash", "") != config_hash) return std::nullopt;
    report::FrameRecord record = report::FrameRecordFromJson(doc);
    if (record.query != query) return std::nullopt;
    return QueryOutcome{query, true, std::move(record), std::move(doc)};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Quantile q of a map's score over the pixels it sees; 0 when it sees none.
double FrameQuantile(const dense::ChangeMap& map, double q) {
  if (cv::countNonZero(map.valid) == 0) return 0;
  return dense::CalibrateThreshold({map}, 1 - q).threshold;
}

}  // namespace

// The dense change map of query image `qi` against a verified reference image `ri` (the matches
// and their view check given), registered as InspectorOptions::dense_registration says: a flow
// pair interpolated from the epipolar inliers (3-D scenes), else the verification's homography,
// else the dominant plane's refit with the overlap fit's looser inlier threshold (the dense
// window absorbs the remaining parallax), else the identity. *how names what registered it;
// *register_ms adds the flow's time. The same function scores queries and, for the threshold,
// pairs of neighbouring reference frames, so both see the same registration errors.
using DeepFeaturesFn = std::function<const dense::DeepFeatures&()>;

dense::ChangeMap VerifiedPairMap(const Features& qf, const cv::Mat& qi, const Features& rf,
                                 const cv::Mat& ri, const Matches& matches, const ViewCheck& check,
                                 const InspectorOptions& options, std::string* how,
                                 double* register_ms, const DeepFeaturesFn& query_deep,
                                 const DeepFeaturesFn& reference_deep) {
  const bool deep = options.ResolvedDenseChannel() == "deep";
  const std::string mode = options.ResolvedDenseRegistration();
  const bool one_plane =
      check.report.method == "homography" ||
      HomographyScoreShare(qf, rf, matches, check.homography, check.fundamental) > options.dense_plane_share;
  if (mode == "flow" || (mode == "auto" && !one_plane)) {
    const auto start = Clock::now();
    VerificationOptions epipolar = options.view_check.ransac;
    epipolar.method = "fundamental";
    Matches copy = matches;
    std::vector<cv::Point2f> from, to;
    if (VerifyMatches(qf, rf, epipolar, &copy).success) {
      for (size_t i = 0; i < copy.matches0.size(); ++i) {
        const int j = copy.matches0[i];
        if (j < 0 || !copy.inlier0[i]) continue;
        const int row = static_cast<int>(i);
        from.emplace_back(qf.keypoints(row, 0), qf.keypoints(row, 1));
        to.emplace_back(rf.keypoints(j, 0), rf.keypoints(j, 1));
      }
    }
    if (deep) {
      // Deep features tolerate sub-cell misalignment, and the unrefined flow still maps a
      // removed object's pixels onto its place (registration.h FlowPair), so the one smooth
      // query-to-reference interpolation serves both directions of the deep channel; the
      // photometric pair's refinements and reverse flow (three quarters of the registration
      // time) would be computed for nothing.
      dense::FlowRegistrationOptions smooth = options.dense_flow;
      smooth.refine = "none";
      const dense::Registration reg = dense::RegistrationFromMatches(qi, ri, from, to, smooth);
      *register_ms += MsSince(start);
      if (!reg.empty()) {
        *how = "flow";
        return dense::ScoreDeep(query_deep(), reference_deep(), reg, options.dense_deep);
      }
    } else {
      const dense::FlowPair flow = dense::FlowPairFromMatches(qi, ri, from, to, options.dense_flow);
      *register_ms += MsSince(start);
      if (!flow.empty()) {
        *how = "flow";
        return dense::ScoreFlowPair(qi, ri, flow, options.dense);
      }
    }
  }
  cv::Mat h;
  if (check.report.method == "homography") {
    h = check.report.model;
  } else if (one_plane && !check.homography.empty()) {
    h = check.homography;
  } else {
    VerificationOptions plane;
    plane.max_error_px = options.detector.overlap.homography_max_error_px;
    Matches copy = matches;
    const VerificationReport fit = VerifyMatches(qf, rf, plane, &copy);
    if (fit.success) h = fit.model;
  }
  *how = h.empty() ? "identity" : "homography";
  if (deep) {
    return dense::ScoreDeep(query_deep(), reference_deep(),
                            dense::RegistrationFromHomography(h, qi.size(), ri.size()), options.dense_deep);
  }
  return dense::ScorePair(qi, ri, h, options.dense);
}

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
  std::string dense_threshold_source;  // "calibration <file>" | "reference run"
  const map::MapStore* map = nullptr;  // reference features and pixels come from here when set
  std::map<int, cv::Mat> pixel_cache;  // reference pixels read before (or without) extraction
  // The deep channel's features (made when the channel resolves to deep), and each reference's,
  // computed (or loaded from the map) once for every query that uses it.
  std::optional<dense::DeepFeatureComputer> deep_computer;
  std::string deep_key;  // deep_computer->Key(): a map's stored features serve when stored under it
  std::map<int, dense::DeepFeatures> reference_deep;
  // The query count at each cached reference's last use (TrimReferenceCaches).
  std::map<int, int64_t> last_used;
  int64_t queries_seen = 0;
  std::string deep_model;
  // Change-free maps of the reference run (NeighbourMaps), the null of the dense confirmation.
  std::vector<dense::ChangeMap> dense_clean;
  // The dense change map is computed: as the evidence, or to confirm keypoint candidates.
  bool DenseNeeded() const {
    return options.ResolvedEvidence() == "dense" ||
           (options.confirm_with_second_reference && options.confirmation != "keypoints");
  }

  // Reference frame `index`'s deep features: from the cache, else from the map when it stores
  // them under this inspection's deep_key, else computed. *source (when given) says which of
  // the last two happened ("" for the cache), so that the caller times it under its name.
  const dense::DeepFeatures& ReferenceDeep(int index, std::string* source = nullptr) {
    last_used[index] = queries_seen;
    auto it = reference_deep.find(index);
    if (source) source->clear();
    if (it != reference_deep.end()) return it->second;
    if (map) {
      if (std::optional<dense::DeepFeatures> stored = map->LoadDeepFeatures(index, deep_key)) {
        if (source) *source = "load_reference_deep";
        return reference_deep.emplace(index, std::move(*stored)).first->second;
      }
    }
    if (source) *source = "deep_features_reference";
    return reference_deep.emplace(index, DeepFeaturesOf(Pixels(index))).first->second;
  }
  dense::DeepFeatures DeepFeaturesOf(const cv::Mat& color_or_gray) { return (*deep_computer)(color_or_gray); }

  // The dense threshold. From `vigil calibrate` when it calibrated with these settings; else
  // from the reference run itself (InspectorOptions::dense_calibration): its neighbouring frames
  // hold no changes, so their maps, registered and combined exactly as a query's are, give the
  // score distribution of a clean view change; for a fixed pairing (templates, whose images
  // are of different objects) each reference is scored against itself after a simulated
  // registration residual (dense::SimulateCleanQuery).
  void CalibrateDense() {
    const std::string source = options.ResolvedDenseCalibration();
    const bool deep = options.ResolvedDenseChannel() == "deep";
    if (source == "simulated" && !deep && calibration && calibration->dense &&
        calibration->dense->options == OptionsToJson(options.dense) &&
        calibration->dense->false_alarm_rate == options.dense_false_alarm_rate) {
      dense_calibration = dense::DenseCalibration{};
      dense_calibration->threshold = calibration->dense->threshold;
      dense_calibration->false_alarm_rate = calibration->dense->false_alarm_rate;
      dense_threshold_source = "calibration " + options.calibration_file;
      return;
    }
    const int n = static_cast<int>(reference.frames.size());
    const int step = CalibrationStep();
    if (source == "neighbours") {
      const std::vector<dense::ChangeMap> clean = NeighbourMaps();
      if (!clean.empty()) {
        dense_calibration = dense::CalibrateThreshold(clean, options.dense_false_alarm_rate);
        dense_threshold_source = fmt::format("reference run: {} frames against their neighbours", clean.size());
        return;
      }
    }
    if (deep) {  // each reference's features against its simulated clean capture's
      std::vector<dense::ChangeMap> clean;
      for (int i = 0; i < n; i += step) {
        const cv::Mat& image = Pixels(i);
        clean.push_back(dense::ScoreDeep(DeepFeaturesOf(dense::SimulateCleanQuery(image)), ReferenceDeep(i),
                                         dense::RegistrationFromHomography(cv::Mat(), image.size(), image.size()),
                                         options.dense_deep));
      }
      dense_calibration = dense::CalibrateThreshold(clean, options.dense_false_alarm_rate);
    } else {
      std::vector<cv::Mat> images;
      for (int i = 0; i < n; i += step) images.push_back(Pixels(i));  // decoded once, not extracted
      dense_calibration = dense::CalibrateOnReferences(images, options.dense, options.dense_false_alarm_rate);
    }
    dense_threshold_source = source == "neighbours"
                                 ? "reference run: simulated residuals (no neighbouring frames verify)"
                                 : "reference run: simulated residuals";
  }

  // Calibrations use every CalibrationStep()-th reference frame: at most about 20, spread
  // along the run.
  int CalibrationStep() const { return std::max(1, static_cast<int>(reference.frames.size()) / 20); }

  // Change-free maps of the run: about 20 reference frames spread along it, each against its
  // neighbours (NeighbourMap); frames without a verified neighbour are left out.
  std::vector<dense::ChangeMap> NeighbourMaps() {
    const int n = static_cast<int>(reference.frames.size());
    std::vector<dense::ChangeMap> clean;
    for (int i = 0; i < n; i += CalibrationStep()) {
      if (auto m = NeighbourMap(i)) clean.push_back(std::move(*m));
    }
    return clean;
  }

  // Reference frame i scored as a query against its neighbours in run order (at most
  // dense_max_references, nearest first), the maps combined by their minimum as a query's are.
  // Neighbours that fail verification are left out; none left gives nothing.
  std::optional<dense::ChangeMap> NeighbourMap(int i) {
    std::map<std::string, double> timings;
    const int n = static_cast<int>(reference.frames.size());
    std::vector<dense::ChangeMap> maps;
    for (int d = 1; d < n && static_cast<int>(maps.size()) < options.dense_max_references; ++d) {
      for (int j : {i - d, i + d}) {
        if (j < 0 || j >= n || static_cast<int>(maps.size()) >= options.dense_max_references) continue;
        const ImageFeatures& a = ReferenceFeatures(i, &timings);
        const ImageFeatures& b = ReferenceFeatures(j, &timings);
        const Matches m = matcher->Match(a.features, b.features);
        const ViewCheck check = CheckView(a.features, b.features, m, a.image.size(), options.view_check);
        if (!check.passed) continue;
        std::string how;
        double ms = 0;
        maps.push_back(VerifiedPairMap(
            a.features, a.image, b.features, b.image, m, check, options, &how, &ms,
            [&, i]() -> const dense::DeepFeatures& { return ReferenceDeep(i); },
            [&, j]() -> const dense::DeepFeatures& { return ReferenceDeep(j); }));
      }
      if (d >= 2) break;  // only the adjacent frames and the next ones out are neighbours
    }
    if (maps.empty()) return std::nullopt;
    return dense::MinOverReferences(maps);
  }

  // Dense anomalies from the change maps against the verified references, combined per pixel
  // by their minimum.
  std::vector<Anomaly> DenseAnomalies(const std::vector<dense::ChangeMap>& maps,
                                      std::map<std::string, double>* timings, cv::Mat* score) {
    const auto start = Clock::now();
    const dense::ChangeMap combined = dense::MinOverReferences(maps);
    *score = combined.Score();
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
    (*timings)["dense"] += MsSince(start);
    return anomalies;
  }

  // Reference frame `index`'s pixels, decoded (or loaded from the map) once: from the features
  // cache when extracted, else kept in pixel_cache until ReferenceFeatures takes them over.
  // The map's gray pixels serve every use of the reference image (photometric check, dense
  // comparison, panel, crops): each converts to gray the same way, so results equal a folder
  // run's.
  const cv::Mat& Pixels(int index) {
    last_used[index] = queries_seen;
    const auto cached = reference_cache.find(index);
    if (cached != reference_cache.end()) return cached->second.image;
    cv::Mat& pixels = pixel_cache[index];
    if (pixels.empty()) {
      pixels = map ? map->LoadGray(index) : ReadFrameImage(reference.frames[index].image, options.max_pixels);
    }
    return pixels;
  }

  const ImageFeatures& ReferenceFeatures(int index, std::map<std::string, double>* timings) {
    last_used[index] = queries_seen;
    auto it = reference_cache.find(index);
    if (it != reference_cache.end()) return it->second;
    const auto start = Clock::now();
    ImageFeatures entry;
    entry.image = Pixels(index);
    pixel_cache.erase(index);
    if (map) {
      entry.features = map->LoadFeatures(index);
      (*timings)["load_reference"] += MsSince(start);
    } else {
      entry.features = extractor->Extract(entry.image);
      (*timings)["extract_reference"] += MsSince(start);
    }
    return reference_cache.emplace(index, std::move(entry)).first->second;
  }

  // Between queries only (a query holds references into the caches while it runs): drops the
  // least recently used references beyond options.max_cached_references. Outputs keep what they
  // need as cv::Mat headers, which share and so outlive the cached buffers.
  void TrimReferenceCaches() {
    ++queries_seen;
    if (static_cast<int>(last_used.size()) <= options.max_cached_references) return;
    std::vector<std::pair<int64_t, int>> by_age;
    for (const auto& [index, used] : last_used) by_age.emplace_back(used, index);
    std::sort(by_age.begin(), by_age.end());
    const size_t evict = by_age.size() - static_cast<size_t>(options.max_cached_references);
    for (size_t k = 0; k < evict; ++k) {
      const int index = by_age[k].second;
      reference_cache.erase(index);
      reference_deep.erase(index);
      pixel_cache.erase(index);
      last_used.erase(index);
    }
  }

  FrameResult Inspect(const retrieval::RunFrame& frame, int q, const cv::Mat& query_image);
  // The fixed pairing's reference (InspectorOptions::pairs / single_reference), no retrieval.
  retrieval::ReferenceChoice FixedChoice(const retrieval::RunFrame& frame) const;
  class QueryContext;
  // The steps of Inspect.
  void ChooseReference(const retrieval::RunFrame& frame, int q, const cv::Mat& image,
                       QueryContext& ctx, FrameResult& out);
  void KeypointEvidence(const retrieval::RunFrame& frame, const cv::Mat& image, QueryContext& ctx,
                        FrameResult& out, bool confirm = true);
  void DenseEvidence(const cv::Mat& image, QueryContext& ctx, FrameResult& out);
  void SecondViewConfirmation(const retrieval::RunFrame& frame, const cv::Mat& image,
                              QueryContext& ctx, FrameResult& out);
  std::vector<int> DenseReferences(QueryContext& ctx, const FrameResult& out);
  std::vector<dense::ChangeMap> DenseMaps(QueryContext& ctx, const std::vector<int>& refs, DenseOutcome* outcome);
  void DenseConfirmation(QueryContext& ctx, FrameResult& out);
  void ResolveDenseChannel();
  std::string dense_channel_note;  // why "auto" did not resolve to the deep channel
  void Relocalize(const retrieval::RunFrame& frame, const cv::Mat& image, QueryContext& ctx,
                  retrieval::ReferenceChoice& choice);
  void CompareWithAppearance(const retrieval::RunFrame& frame, const cv::Mat& image,
                             QueryContext& ctx, FrameResult& out);
};

// One query's work in progress: its features, and the matches and view checks against the
// references looked at so far, each computed once however many steps ask for it.
class Inspector::Impl::QueryContext {
 public:
  QueryContext(Inspector::Impl* s, const cv::Mat& image, FrameResult* out)
      : s_(*s), image_(image), out_(*out) {
    const auto start = Clock::now();
    out_.query_features = s_.extractor->Extract(image);
    out_.timings_ms["extract"] = MsSince(start);
  }
  std::map<std::string, double>& timings() { return out_.timings_ms; }
  const ImageFeatures& Reference(int r) { return s_.ReferenceFeatures(r, &timings()); }
  const Matches& MatchWith(int r) {
    auto found = matches_.find(r);
    if (found != matches_.end()) return found->second;
    const ImageFeatures& ref = Reference(r);
    const auto start = Clock::now();
    Matches m = s_.matcher->Match(out_.query_features, ref.features);
    timings()["match"] += MsSince(start);
    return matches_.emplace(r, std::move(m)).first->second;
  }
  const ViewCheck& Check(int r) {
    auto found = checks_.find(r);
    if (found != checks_.end()) return found->second;
    const Matches& m = MatchWith(r);
    const auto start = Clock::now();
    ViewCheck check = CheckView(out_.query_features, Reference(r).features, m, image_.size(),
                                s_.options.view_check);
    timings()["verify"] += MsSince(start);
    return checks_.emplace(r, std::move(check)).first->second;
  }
  // Further views that pass the same check, best first, at most `count`. Verified only when
  // asked for: checking every pose candidate up front would match each of them per query.
  std::vector<int> VerifiedAlternatives(int count) {
    std::vector<int> views;
    for (int r : out_.choice.alternatives) {
      if (static_cast<int>(views.size()) >= count) break;
      if (Check(r).passed) views.push_back(r);
    }
    return views;
  }
  // The dense change map against reference r (VerifiedPairMap); what registered it goes to *how.
  // Computed once per reference: a lazy segmentation's two passes confirm against the same maps.
  dense::ChangeMap DenseMap(int r, std::string* how) {
    auto cached = dense_maps_.find(r);
    if (cached == dense_maps_.end()) cached = dense_maps_.emplace(r, ComputeDenseMap(r)).first;
    *how = cached->second.second;
    // A copy of its own (cv::Mat shares data), so that no caller can change the cached map.
    const dense::ChangeMap& map = cached->second.first;
    return {map.new_score.clone(), map.missing_score.clone(), map.valid.clone()};
  }
  std::pair<dense::ChangeMap, std::string> ComputeDenseMap(int r) {
    std::string how;
    const ImageFeatures& ref = Reference(r);
    if (s_.options.ResolvedDenseChannel() == "deep") {
      // Once per reference in a run (a cost of the reference side, as its extraction is), so
      // timed apart from the query's dense stage.
      const auto start = Clock::now();
      std::string source;
      s_.ReferenceDeep(r, &source);
      if (!source.empty()) timings()[source] += MsSince(start);
    }
    dense::ChangeMap map = VerifiedPairMap(
        out_.query_features, image_, ref.features, ref.image, MatchWith(r), Check(r), s_.options, &how,
        &timings()["register"], [this]() -> const dense::DeepFeatures& { return QueryDeep(); },
        [this, r]() -> const dense::DeepFeatures& { return s_.ReferenceDeep(r); });
    return {std::move(map), how};
  }
  const dense::DeepFeatures& QueryDeep() {
    if (query_deep_.empty()) {
      const auto start = Clock::now();
      query_deep_ = s_.DeepFeaturesOf(image_);
      timings()["deep_features"] += MsSince(start);
    }
    return query_deep_;
  }

 private:
  Inspector::Impl& s_;
  const cv::Mat& image_;
  FrameResult& out_;
  dense::DeepFeatures query_deep_;
  std::map<int, Matches> matches_;
  std::map<int, ViewCheck> checks_;
  std::map<int, std::pair<dense::ChangeMap, std::string>> dense_maps_;  // map, how registered
};

namespace {

ReferenceVerification ToVerification(const ViewCheck& check) {
  ReferenceVerification v;
  v.passed = check.passed;
  v.model = check.report.method;
  v.matches = check.report.num_matches;
  v.inliers = check.report.num_inliers;
  v.inlier_ratio = check.report.inlier_ratio;
  v.span = check.report.span;
  if (!std::isnan(check.report.null_inliers)) v.null_inliers = check.report.null_inliers;
  if (!std::isnan(check.report.null_probability)) v.null_probability = check.report.null_probability;
  v.reason = check.reason;
  return v;
}

}  // namespace

// Retrieval (or the fixed pairing), then geometric verification of the candidate; a failing
// candidate is replaced by the first alternative that passes, in the rule's own order.
void Inspector::Impl::ChooseReference(const retrieval::RunFrame& frame, int q, const cv::Mat& image,
                                      QueryContext& ctx, FrameResult& out) {
  const auto start = Clock::now();
  const bool fixed = options.single_reference || !options.pairs.empty();
  // Appearance candidates are ranked by geometric inliers, not by raw matches.
  out.choice = fixed ? FixedChoice(frame)
                     : selector->Select(frame, q, [&](int, int r) { return ctx.Check(r).report.num_inliers; },
                                        image);
  retrieval::ReferenceChoice& choice = out.choice;
  if (choice.found()) {
    const int first = choice.reference_index;
    if (!ctx.Check(first).passed) {
      choice.reference_index = -1;
      for (size_t a = 0; a < choice.alternatives.size(); ++a) {
        if (ctx.Check(choice.alternatives[a]).passed) {
          choice.reference_index = choice.alternatives[a];
          choice.alternatives.erase(choice.alternatives.begin() + static_cast<long>(a));
          choice.rule += "+reverified";
          break;
        }
      }
    }
    if (!choice.found() && options.relocalize && !fixed) Relocalize(frame, image, ctx, choice);
    const int used = choice.found() ? choice.reference_index : first;
    out.verification = ToVerification(ctx.Check(used));
    if (used != first) {
      out.verification->replaced_image = reference.frames[first].image.filename().string();
      out.verification->replaced_reason = ctx.Check(first).reason;
    }
    if (!choice.found()) choice.rule = "failed-verification";
  }
  auto& t = ctx.timings();
  t["retrieval"] = MsSince(start) - t["match"] - t["extract_reference"] - t["load_reference"] - t["verify"];
  if (!choice.found()) {
    out.note = out.verification
                   ? "not inspectable: no candidate reference passes geometric verification (" +
                         out.verification->reason + ")"
                   : "no reference image qualifies (pose thresholds and appearance verification failed)";
    return;
  }
  out.inspected = true;
  out.reference_image = reference.frames[choice.reference_index].image.filename().string();
  if (choice.rule.rfind("pose", 0) == 0) CompareWithAppearance(frame, image, ctx, out);
  const ImageFeatures& ref = ctx.Reference(choice.reference_index);
  out.reference_features = ref.features;
  out.reference_image_pixels = ref.image;
  out.matches = ctx.MatchWith(choice.reference_index);
  // The verification's own homography fit (query -> reference), for the change events.
  out.query_to_reference = ctx.Check(choice.reference_index).homography;
}

// Every pose candidate failed verification: the whole run by appearance, its top candidates
// verified, the one with the most inliers taken (rule "relocalized"). The pose was wrong, or
// the place changed beyond recognition; either way the JSON says so.
void Inspector::Impl::Relocalize(const retrieval::RunFrame& frame, const cv::Mat& image,
                                 QueryContext& ctx, retrieval::ReferenceChoice& choice) {
  int best = -1, best_inliers = 0;
  for (const auto& [r, similarity] : selector->RankByAppearance(image, options.selection.appearance_top_k)) {
    const ViewCheck& check = ctx.Check(r);
    if (check.passed && check.report.num_inliers > best_inliers) {
      best = r;
      best_inliers = check.report.num_inliers;
      choice.appearance_score = similarity;
    }
  }
  if (best < 0) return;
  choice.reference_index = best;
  choice.rule += "+relocalized";
  choice.alternatives.clear();
  const auto& pose = reference.frames[best].pose;
  choice.distance_m = frame.pose && pose ? (frame.pose->position - pose->position).norm()
                                         : std::numeric_limits<double>::quiet_NaN();
  choice.angle_deg = frame.pose && pose ? retrieval::AngleBetweenDeg(frame.pose->orientation, pose->orientation)
                                        : std::numeric_limits<double>::quiet_NaN();
}

// Localization feedback: the reference appearance ranks first, when it is not one the pose
// accepts, is verified too; passing with more inliers than the pose's choice, it is reported
// (the choice stands: the pose rule is what the user asked for).
void Inspector::Impl::CompareWithAppearance(const retrieval::RunFrame& frame, const cv::Mat& image,
                                            QueryContext& ctx, FrameResult& out) {
  const auto top = selector->RankByAppearance(image, 1);
  if (top.empty()) return;
  const int a = top.front().first;
  const auto& alternatives = out.choice.alternatives;
  if (a == out.choice.reference_index ||
      std::find(alternatives.begin(), alternatives.end(), a) != alternatives.end()) {
    return;
  }
  const ViewCheck& check = ctx.Check(a);
  const int chosen = ctx.Check(out.choice.reference_index).report.num_inliers;
  if (!check.passed || check.report.num_inliers <= chosen) return;
  AppearanceDisagreement d;
  d.image = reference.frames[a].image.filename().string();
  d.similarity = top.front().second;
  d.inliers = check.report.num_inliers;
  d.chosen_inliers = chosen;
  const auto& pose = reference.frames[a].pose;
  if (frame.pose && pose) d.distance_m = (frame.pose->position - pose->position).norm();
  out.appearance_prefers = d;
}

// Algorithm 1 on the chosen reference, confirmed by the best other verified reference: the
// next-nearest pose, or the runner-up by verified inliers when chosen by appearance.
void Inspector::Impl::KeypointEvidence(const retrieval::RunFrame& frame, const cv::Mat& image,
                                       QueryContext& ctx, FrameResult& out, bool confirm) {
  const ImageFeatures& ref = ctx.Reference(out.choice.reference_index);
  ChangeDetectionInput input{&out.query_features, &ref.features, &out.matches, image.size(),
                             ref.image.size(), &out.instances, image, ref.image,
                             ctx.Check(out.choice.reference_index).fundamental};
  out.detection = DetectChanges(input, options.detector);
  // A later pass (lazy segmentation) starts afresh: no confirmation of an earlier pass stays.
  out.second_view.reset();
  out.dense.reset();
  out.dense_score = cv::Mat();
  if (!confirm || !options.confirm_with_second_reference || out.detection.anomalies.empty()) return;
  // The dense rule needs the run's change-free maps only with the "run" null; without them
  // (no neighbouring frames verify) it falls back to the second view's keypoints.
  const bool dense = options.confirmation != "keypoints" &&
                     (options.dense_confirm.null == "frame" || !dense_clean.empty());
  if (!dense || options.confirmation == "keypoints+dense") SecondViewConfirmation(frame, image, ctx, out);
  if (dense && !out.detection.anomalies.empty()) DenseConfirmation(ctx, out);
}

// The paper-style confirmation: Algorithm 1 against the best other verified reference must show
// the same kind of change (ConfirmWithSecondView).
void Inspector::Impl::SecondViewConfirmation(const retrieval::RunFrame& frame, const cv::Mat& image,
                                             QueryContext& ctx, FrameResult& out) {
  const std::vector<int> second_views = ctx.VerifiedAlternatives(1);
  if (second_views.empty()) return;
  const int r2 = second_views.front();
  const ImageFeatures& ref2 = ctx.Reference(r2);
  const Matches& matches2 = ctx.MatchWith(r2);
  ChangeDetectionInput input2{&out.query_features, &ref2.features, &matches2, image.size(),
                              ref2.image.size(), &out.instances, image, ref2.image, ctx.Check(r2).fundamental};
  const ChangeDetectionResult second = DetectChanges(input2, options.detector);
  SecondViewOutcome s;
  s.unconfirmed_anomalies = ConfirmWithSecondView(second, options.second_view, &out.detection);
  s.image = reference.frames[r2].image.filename().string();
  const auto& pose2 = reference.frames[r2].pose;
  if (frame.pose && pose2) s.distance_m = (frame.pose->position - pose2->position).norm();
  s.verified_matches = matches2.num_matches();
  s.localization_error = second.localization_error;
  out.second_view = s;
}

// The chosen reference and up to dense_max_references - 1 further verified ones.
std::vector<int> Inspector::Impl::DenseReferences(QueryContext& ctx, const FrameResult& out) {
  std::vector<int> refs = {out.choice.reference_index};
  for (int r : ctx.VerifiedAlternatives(options.dense_max_references - 1)) refs.push_back(r);
  return refs;
}

// Each of `refs` registered and scored (VerifiedPairMap); how each was registered goes to
// outcome->registrations.
std::vector<dense::ChangeMap> Inspector::Impl::DenseMaps(QueryContext& ctx, const std::vector<int>& refs,
                                                         DenseOutcome* outcome) {
  std::vector<dense::ChangeMap> maps;
  for (int r : refs) {
    // Registration and scoring together under "dense" (registering is timed apart as well).
    const auto start = Clock::now();
    maps.push_back(ctx.DenseMap(r, &outcome->registrations.emplace_back()));
    ctx.timings()["dense"] += MsSince(start);
  }
  return maps;
}

// Keypoint candidates kept only where the dense map against the verified references (their
// per-pixel minimum) makes the candidate's region significant (dense/region_significance.h)
// against its null: placements of the region over this frame's own map ("frame") or over the
// run's change-free maps ("run"). A region the references do not see is not judged and stays.
void Inspector::Impl::DenseConfirmation(QueryContext& ctx, FrameResult& out) {
  DenseOutcome dense;
  dense.role = "confirmation";
  const std::vector<int> refs = DenseReferences(ctx, out);
  for (int r : refs) dense.references.push_back(reference.frames[r].image.filename().string());
  const dense::ChangeMap combined = dense::MinOverReferences(DenseMaps(ctx, refs, &dense));
  const auto start = Clock::now();
  const std::vector<dense::ChangeMap> own = {combined};
  const std::vector<dense::ChangeMap>& null_maps = options.dense_confirm.null == "run" ? dense_clean : own;
  std::vector<Anomaly> kept;
  for (Anomaly& a : out.detection.anomalies) {
    const dense::RegionTest t = dense::TestRegion(combined, a.mask, a.kind, null_maps, options.dense_confirm);
    if (t.judged) {
      a.dense_statistic = static_cast<float>(t.statistic);
      a.dense_null_rate = static_cast<float>(t.null_rate);
    }
    if (!t.judged || t.significant) {
      kept.push_back(std::move(a));
    } else {
      out.detection.unconfirmed.push_back(std::move(a));
      ++dense.unconfirmed_anomalies;
    }
  }
  out.detection.anomalies = std::move(kept);
  ctx.timings()["confirm"] += MsSince(start);
  // The heat map's scale: the run's calibrated threshold when there is one, else the frame's
  // own 99th percentile.
  dense.threshold = dense_calibration ? dense_calibration->threshold : FrameQuantile(combined, 0.99);
  out.dense_score = combined.Score();
  out.dense = dense;
}

// One rule for every view: a pixel's score is its minimum over the verified references.
// Algorithm 1 still runs first for its overlap and localization check.
void Inspector::Impl::DenseEvidence(const cv::Mat& image, QueryContext& ctx, FrameResult& out) {
  const ImageFeatures& ref = ctx.Reference(out.choice.reference_index);
  ChangeDetectionInput input{&out.query_features, &ref.features, &out.matches, image.size(),
                             ref.image.size(), &out.instances, image, ref.image};
  out.detection = DetectChanges(input, options.detector);
  const std::vector<int> refs = DenseReferences(ctx, out);
  DenseOutcome dense;
  for (int r : refs) dense.references.push_back(reference.frames[r].image.filename().string());
  if (!out.detection.localization_error) {
    out.detection.anomalies = DenseAnomalies(DenseMaps(ctx, refs, &dense), &ctx.timings(), &out.dense_score);
  }
  out.detection.unconfirmed.clear();
  dense.threshold = dense_calibration->threshold;
  out.dense = dense;
}

FrameResult Inspector::Impl::Inspect(const retrieval::RunFrame& frame, int q, const cv::Mat& image) {
  TrimReferenceCaches();
  FrameResult out;
  out.query = frame.image.filename().string();
  out.threshold = threshold;
  out.evidence = options.ResolvedEvidence();
  QueryContext ctx(this, image, &out);
  ChooseReference(frame, q, image, ctx, out);
  if (!out.inspected) return out;

  // The stages that further views add while detecting are counted under their own names.
  auto others = [&] {
    double sum = 0;
    for (const char* stage : {"segment", "match", "verify", "extract_reference", "load_reference", "dense"}) {
      const auto it = out.timings_ms.find(stage);
      if (it != out.timings_ms.end()) sum += it->second;
    }
    return sum;
  };
  const double others_before = others();
  auto start = Clock::now();
  if (out.evidence == "dense") {
    DenseEvidence(image, ctx, out);
  } else {
    auto segment = [&] {
      const auto segment_start = Clock::now();
      out.instances = segmenter->Segment(image);
      out.timings_ms["segment"] = MsSince(segment_start);
      out.num_instances = static_cast<int>(out.instances.size());
    };
    const bool lazy = segmenter && options.segment_when != "always";
    if (segmenter && !lazy) segment();
    // Lazily: a first pass without instances, only to see whether there is evidence
    // ("evidence": unconfirmed; "confirmed": after the confirmation); the result is then the
    // full pass's, as with "always" on that frame.
    KeypointEvidence(frame, image, ctx, out, /*confirm=*/!lazy || options.segment_when == "confirmed");
    // Without evidence the first pass stands.
    if (lazy && (!out.detection.anomalies.empty() || out.detection.withheld_anomalies > 0)) {
      segment();
      KeypointEvidence(frame, image, ctx, out);
    }
  }
  out.timings_ms["detect"] = MsSince(start) - (others() - others_before);
  out.note = out.detection.note;
  for (const auto& [stage, ms] : out.matches.timings_ms) out.timings_ms["matcher_" + stage] = ms;
  for (const auto& [stage, ms] : out.detection.timings_ms) out.timings_ms["detect_" + stage] = ms;
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

namespace {

// Removes every "num_threads" field, at any depth.
void EraseThreadCounts(json& j) {
  if (!j.is_object()) return;
  j.erase("num_threads");
  for (auto& [key, value] : j.items()) EraseThreadCounts(value);
}

// The options as the configuration identity holds them: every field but the thread counts. How
// many threads compute a result does not change it (changes-freiburg with 1 and 2 threads:
// identical JSON for all 24 queries; a test checks it on small runs; the map's identity leaves
// them out too), and RunInspection divides the threads among its workers (jobs), so a resumed
// run must not recompute because the division changed.
json IdentityOptions(const InspectorOptions& options) {
  json j = OptionsToJson(options);
  EraseThreadCounts(j);
  return j;
}

// A map serves the reference side only when it was built with the settings this inspection
// would extract with; otherwise its features are another extractor's, and it is refused with
// the settings that differ.
void CheckMapIdentity(const map::MapStore& map, const InspectorOptions& options,
                      const FeatureExtractor& extractor) {
  map::MapBuildOptions build;
  build.extractor = options.extractor;
  build.reference_run = options.reference_run;
  build.selection = options.selection;
  const std::vector<std::string> differences =
      map::IdentityDifferences(map.build_identity(), map::MapBuildIdentity(build, extractor));
  if (differences.empty()) return;
  std::string list;
  for (size_t k = 0; k < differences.size() && k < 5; ++k) list += (k ? "; " : "") + differences[k];
  if (differences.size() > 5) list += fmt::format("; and {} more", differences.size() - 5);
  throw Error(fmt::format("{}: the map was built with other settings than this inspection ({}: map vs "
                          "now); rebuild it with vigil map build or inspect with its settings",
                          map.path().string(), list));
}

}  // namespace

// The dense channel, and the deep channel's model file (deep_model), found once. "auto": for
// the dense confirmation of keypoint candidates in runs, the deep channel when its model is
// found (on changes-freiburg it ranks changed regions above viewpoint artefacts better than
// intensities do: README), else the weight-free photometric one, said in the configuration;
// dense evidence keeps the photometric channel (the deep one cannot be calibrated from
// templates alone: bench/README.md). An explicit "deep" without its model is an error.
void Inspector::Impl::ResolveDenseChannel() {
  InspectorOptions& o = options;
  if (o.dense_channel == "auto") {
    o.dense_channel = "photometric";
    if (o.ResolvedEvidence() == "dense") return;
    try {
      deep_model = FindModelFile(o.dense_deep_model, dense::DeepModelSpec()).string();
    } catch (const Error& e) {
      dense_channel_note = fmt::format("deep channel unavailable, photometric used: {}", e.what());
      return;
    }
    o.dense_channel = "deep";
  } else if (o.dense_channel == "deep") {
    deep_model = FindModelFile(o.dense_deep_model, dense::DeepModelSpec()).string();
  }
}

void Inspector::UseMap(Impl& s, const map::MapStore& map) {
  CheckMapIdentity(map, s.options, *s.extractor);
  VIGIL_CHECK(map.NumFrames() == static_cast<int>(s.reference.frames.size()),
              "{}: {} frames in the map, {} in its run", map.path().string(), map.NumFrames(),
              s.reference.frames.size());
  std::vector<std::vector<float>> descriptors;
  for (int i = 0; i < map.NumFrames(); ++i) descriptors.push_back(map.LoadGlobalDescriptor(i));
  s.selector->SetReferenceDescriptors(std::move(descriptors));
  s.map = &map;
}

Inspector::Inspector(retrieval::Run reference, const InspectorOptions& options, const map::MapStore* map)
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
  if (map) UseMap(s, *map);
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
  if (s.DenseNeeded()) s.ResolveDenseChannel();
  if (!s.deep_model.empty()) {
    models["dense_deep"] = ModelIdentity(s.deep_model);
    s.deep_computer.emplace(s.deep_model, s.options.dense_deep, s.options.extractor.num_threads);
    s.deep_key = s.deep_computer->Key();
  }
  json reference_frames = json::array();
  for (const auto& f : s.reference.frames) reference_frames.push_back(f.image.filename().string());
  s.config = {{"extractor", s.extractor->name()},
              {"matcher", s.matcher->name()},
              {"threshold", s.threshold},
              {"segmenter", s.segmenter_name},
              {"options", IdentityOptions(s.options)},
              {"models", models},
              {"reference", fs::absolute(s.reference.dir).lexically_normal().string()},
              {"reference_frames", reference_frames},
              {"format", kFrameResultFormat}};
  if (options.ResolvedEvidence() == "dense") {
    s.CalibrateDense();
    s.config["dense_threshold"] = s.dense_calibration->threshold;
    s.config["dense_threshold_source"] = s.dense_threshold_source;
  } else if (s.DenseNeeded() && options.dense_confirm.null == "run") {
    s.dense_clean = s.NeighbourMaps();
    // The pixel threshold only scales the panel's heat map here; the regions are tested.
    if (!s.dense_clean.empty()) {
      s.dense_calibration = dense::CalibrateThreshold(s.dense_clean, options.dense_false_alarm_rate);
    }
    s.config["dense_confirmation_clean_maps"] = s.dense_clean.size();
  }
  s.config["evidence"] = options.ResolvedEvidence();
  if (!s.dense_channel_note.empty()) s.config["dense_channel_fallback"] = s.dense_channel_note;
  s.config_hash = ConfigHash(s.config);
}

Inspector::~Inspector() = default;

cv::Mat Inspector::ReferencePixels(int index) {
  VIGIL_CHECK(index >= 0 && index < static_cast<int>(impl_->reference.frames.size()),
              "reference frame {} out of range", index);
  // Pixels only (report crops of resumed frames): no extraction. The report asks for many
  // references after the last query, so the caches are bounded here too.
  cv::Mat pixels = impl_->Pixels(index);
  impl_->TrimReferenceCaches();
  return pixels;
}

FrameResult Inspector::InspectFrame(const retrieval::RunFrame& frame, int index, const cv::Mat& image) {
  VIGIL_CHECK(!image.empty(), "{}: empty query image", frame.image.string());
  return impl_->Inspect(frame, index, image);
}

void WriteFrameImages(const fs::path& out_dir, const std::string& stem, const FrameResult& result,
                      const cv::Mat& query_image, bool write_panel) {
  io::WriteImage(out_dir / "masks" / (stem + ".png"), result.detection.ChangeMask(query_image.size()));
  // The dense score as 32-bit float TIFF, for whoever thresholds or inspects it themselves.
  if (!result.dense_score.empty()) io::WriteImage(out_dir / "scores" / (stem + ".tiff"), result.dense_score);
  if (!write_panel || !result.inspected) return;
  PanelInput panel{query_image, result.reference_image_pixels, &result.query_features,
                   &result.matches, &result.instances, &result.detection};
  panel.dense_score = result.dense_score;
  panel.dense_threshold = result.dense ? result.dense->threshold : 0;
  io::WriteImage(out_dir / "panels" / (stem + ".png"), RenderInspectionPanel(panel));
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
  VIGIL_CHECK_OPTION(confirmation == "keypoints" || confirmation == "dense" || confirmation == "keypoints+dense",
                     "confirmation",
                     fmt::format("must be keypoints, dense or keypoints+dense, got '{}'", confirmation));
  if (confirmation != "keypoints") dense_confirm.Check();
  if (UsesDense()) {
    dense.Check();
    VIGIL_CHECK_OPTION(dense_false_alarm_rate > 0 && dense_false_alarm_rate < 1, "dense_false_alarm_rate",
                       fmt::format("must be in (0, 1), got {}", dense_false_alarm_rate));
    VIGIL_CHECK_OPTION(dense_max_references >= 1, "dense_max_references",
                       fmt::format("must be >= 1, got {}", dense_max_references));
    VIGIL_CHECK_OPTION(dense_registration == "auto" || dense_registration == "homography" ||
                           dense_registration == "flow",
                       "dense_registration",
                       fmt::format("must be auto, homography or flow, got '{}'", dense_registration));
    dense_flow.Check();
    VIGIL_CHECK_OPTION(dense_channel == "auto" || dense_channel == "photometric" || dense_channel == "deep",
                       "dense_channel",
                       fmt::format("must be auto, photometric or deep, got '{}'", dense_channel));
    if (dense_channel != "photometric") dense_deep.Check();  // "auto" may resolve to deep
    VIGIL_CHECK_OPTION(dense_plane_share >= 0 && dense_plane_share <= 1, "dense_plane_share",
                       fmt::format("must be in [0, 1], got {}", dense_plane_share));
    VIGIL_CHECK_OPTION(dense_calibration == "auto" || dense_calibration == "simulated" ||
                           dense_calibration == "neighbours",
                       "dense_calibration",
                       fmt::format("must be auto, simulated or neighbours, got '{}'", dense_calibration));
  }
  VIGIL_CHECK_OPTION(segment_when == "evidence" || segment_when == "confirmed" || segment_when == "always",
                     "segment_when",
                     fmt::format("must be evidence, confirmed or always, got '{}'", segment_when));
  VIGIL_CHECK_OPTION(max_pixels >= 1, "max_pixels", fmt::format("must be >= 1, got {}", max_pixels));
  VIGIL_CHECK_OPTION(jobs >= 1, "jobs", fmt::format("must be >= 1, got {}", jobs));
  VIGIL_CHECK_OPTION(max_cached_references >= 1, "max_cached_references",
                     fmt::format("must be >= 1, got {}", max_cached_references));
  VIGIL_CHECK_OPTION(!(single_reference && !pairs.empty()), "pairs",
                     "a single reference image and a pairs file exclude each other");
}

void InspectorOptions::SetNumThreads(int threads) {
  VIGIL_CHECK_OPTION(threads >= 1, "threads", fmt::format("must be >= 1, got {}", threads));
  extractor.num_threads = matcher.num_threads = segmenter.num_threads = selection.place.num_threads = threads;
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

namespace {

// The observations of the change events, from the frames' records (computed or resumed
// alike): one per anomaly, with its reference, box, warp into the reference and query pose.
std::vector<events::Observation> EventObservations(const InspectionSummary& summary,
                                                   const std::map<std::string, int>& reference_index,
                                                   const std::map<std::string, const retrieval::RunFrame*>& queries) {
  std::vector<events::Observation> out;
  for (int f = 0; f < static_cast<int>(summary.queries.size()); ++f) {
    const report::FrameRecord& record = summary.queries[f].record;
    const auto r = reference_index.find(record.reference_image);
    const retrieval::RunFrame* frame = queries.at(summary.queries[f].query);
    for (int k = 0; k < static_cast<int>(record.anomalies.size()); ++k) {
      const report::RecordedAnomaly& a = record.anomalies[k];
      events::Observation o;
      o.frame = f;
      o.anomaly = k;
      o.reference = r == reference_index.end() ? -1 : r->second;
      o.bbox = a.bbox;
      o.query_to_reference = record.query_to_reference;
      o.kind = a.kind;
      o.label = a.label == "unknown" ? "" : a.label;
      o.score = a.score;
      if (frame->pose) o.position = frame->pose->position;
      out.push_back(std::move(o));
    }
  }
  return out;
}

// The crops of an event's best sighting, from the query (read again here, once per event, for
// the report only) and the reference pixels (warped box), with a margin of half the box.
std::pair<cv::Mat, cv::Mat> EventCrops(const events::Observation& o, const fs::path& query_image,
                                       const cv::Mat& reference_image, int64_t max_pixels) {
  auto crop = [](const cv::Mat& image, cv::Rect box) {
    if (image.empty()) return cv::Mat();
    box = cv::Rect(box.x - box.width / 2, box.y - box.height / 2, box.width * 2, box.height * 2) &
          cv::Rect(0, 0, image.cols, image.rows);
    return box.area() > 0 ? image(box).clone() : cv::Mat();
  };
  std::pair<cv::Mat, cv::Mat> out;
  try {
    out.first = crop(ReadFrameImage(query_image, max_pixels), o.bbox);
  } catch (const Error&) {
    // A crop is an illustration: an image that went away since is shown without it.
  }
  const cv::Rect in_reference =
      o.query_to_reference.empty()
          ? o.bbox
          : cv::Rect(events::WarpBox(cv::Rect2d(o.bbox), o.query_to_reference));
  out.second = crop(reference_image, in_reference);
  return out;
}

}  // namespace

namespace {

// The query run, restricted to the pairs file's queries when there is one.
retrieval::Run LoadQueries(const fs::path& query_dir, const InspectorOptions& run_options) {
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
  VIGIL_CHECK(!query.frames.empty(), "{}: the query run has no images", query_dir.string());
  return query;
}

// One worker of a run: its Inspector and, with a map, its own read-only connection to it (the
// map's prepared statements are not shared across threads). The map is declared first so that
// it outlives the Inspector, which reads from it.
struct Worker {
  std::optional<map::MapStore> map;
  std::unique_ptr<Inspector> inspector;
};
using WorkerFactory = std::function<std::unique_ptr<Worker>(const InspectorOptions&)>;

// What one query of a run leaves: its outcome, or the reason it was skipped.
struct QuerySlot {
  std::optional<QueryOutcome> outcome;
  std::optional<SkippedFrame> skipped;
};

// Inspects query `q` (or resumes it) and writes its files, the JSON last: its presence means
// every output of the query is complete, so an interrupted run leaves only complete outputs.
void InspectOne(Inspector& inspector, const retrieval::RunFrame& frame, int q, const fs::path& out_dir,
                const InspectorOptions& options, QuerySlot& slot) {
  const std::string stem = frame.image.stem().string();
  const fs::path json_path = out_dir / (stem + ".json");
  if (options.resume) {
    if (std::optional<QueryOutcome> outcome = Resumable(json_path, frame.image.filename().string(), inspector.config_hash())) {
      if (fs::exists(out_dir / "masks" / (stem + ".png")) &&
          (!options.write_panels || fs::exists(out_dir / "panels" / (stem + ".png")))) {
        slot.outcome = std::move(outcome);
        return;
      }
    }
  }
  cv::Mat image;
  try {
    image = ReadFrameImage(frame.image, options.max_pixels);
  } catch (const Error& e) {
    if (options.strict) throw;
    // No JSON and no mask are written for it, so it can never pass for "no change".
    slot.skipped = SkippedFrame{frame.image.string(), "query", e.what()};
    return;
  }
  const FrameResult result = inspector.InspectFrame(frame, q, image);
  const auto write_start = Clock::now();
  WriteFrameImages(out_dir, stem, result, image, options.write_panels);
  json doc = ToJson(result);
  doc["timings_ms"]["write"] = MsSince(write_start);
  doc["config_hash"] = inspector.config_hash();
  WriteTextFileAtomically(json_path, doc.dump(1));
  slot.outcome = QueryOutcome{result.query, false, report::FrameRecordFromJson(doc), std::move(doc)};
}

// Runs `work(worker)` on `jobs` threads (worker 0 on the calling one) and rethrows the first
// exception any of them threw, after all have stopped; `stop` tells the others to finish the
// query at hand and return.
void RunWorkers(int jobs, std::atomic<bool>& stop, const std::function<void(int)>& work) {
  std::mutex mutex;
  std::exception_ptr error;
  auto guarded = [&](int w) {
    try {
      work(w);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!error) error = std::current_exception();
      stop = true;
    }
  };
  std::vector<std::thread> threads;
  for (int w = 1; w < jobs; ++w) threads.emplace_back(guarded, w);
  guarded(0);
  for (std::thread& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

// The run loop shared by folder and map references: every query, resumed or inspected, by the
// workers, then events.json, skipped.json and the report.
void InspectQueries(const WorkerFactory& make_worker, const retrieval::Run& query, const fs::path& out_dir,
                    const InspectorOptions& run_options, const CancelToken* cancel,
                    const std::string& title, InspectionSummary& summary) {
  const int n = static_cast<int>(query.frames.size());
  // --threads is the run's CPU budget: never more workers than threads (nor than queries).
  const int jobs = std::max(1, std::min({run_options.jobs, n, run_options.extractor.num_threads}));
  InspectorOptions worker_options = run_options;
  const int threads = std::max(1, run_options.extractor.num_threads / jobs);
  worker_options.SetNumThreads(threads);
  if (jobs > 1) {
    // Set once, before any worker runs: every model of every worker then asks for the count
    // already set, and the globals are never re-created under a running worker (util/threads.h).
    SetCvThreads(threads);
    SetBlasThreads(threads);
  }
  std::vector<std::unique_ptr<Worker>> workers(jobs);
  // The first worker is made here, so that bad options or models fail before any thread starts.
  workers[0] = make_worker(worker_options);
  const Inspector& first = *workers[0]->inspector;
  summary.threshold = first.threshold();
  summary.threshold_source = first.threshold_source();
  summary.segmenter = first.segmenter();
  summary.config = first.config();
  EnsureDirectory(out_dir);

  // Each worker takes the next `chunk` consecutive queries: neighbouring queries share their
  // references, which then stay in one worker's cache instead of being extracted by both. At
  // most 4, so that the last chunks still spread over the workers; short runs take one at a time.
  const int chunk = std::clamp(n / (2 * jobs), 1, 4);
  ProgressBar progress("inspect", query.frames.size(), run_options.show_progress);
  std::mutex progress_mutex;
  std::vector<QuerySlot> slots(n);
  std::atomic<int> next{0};
  std::atomic<bool> stop{false};
  RunWorkers(jobs, stop, [&](int w) {
    if (!workers[w]) workers[w] = make_worker(worker_options);
    Inspector& inspector = *workers[w]->inspector;
    for (int begin = next.fetch_add(chunk); begin < n && !stop; begin = next.fetch_add(chunk)) {
      for (int q = begin; q < std::min(n, begin + chunk) && !stop; ++q) {
        if (cancel) cancel->ThrowIfCancelled();
        InspectOne(inspector, query.frames[q], q, out_dir, run_options, slots[q]);
        std::lock_guard<std::mutex> lock(progress_mutex);
        progress.Advance();
      }
    }
  });
  progress.Finish();
  // In query order, whichever worker computed them.
  summary.queries.reserve(summary.queries.size() + n);
  for (QuerySlot& slot : slots) {
    if (slot.skipped) summary.skipped.push_back(std::move(*slot.skipped));
    if (!slot.outcome) continue;
    // The stage totals are the computed queries' (a resumed one cost nothing this time).
    if (!slot.outcome->resumed) {
      for (const auto& [stage, ms] : slot.outcome->record.timings_ms) summary.total_timings_ms[stage] += ms;
    }
    summary.queries.push_back(std::move(*slot.outcome));
  }
  Inspector& inspector = *workers[0]->inspector;

  // Change events: the same change over consecutive frames is one event (events/events.h).
  std::map<std::string, int> reference_index;
  const retrieval::Run& references = inspector.reference();
  for (int i = 0; i < static_cast<int>(references.frames.size()); ++i) {
    reference_index[references.frames[i].image.filename().string()] = i;
  }
  std::map<std::string, const retrieval::RunFrame*> query_frames;
  for (const retrieval::RunFrame& f : query.frames) query_frames[f.image.filename().string()] = &f;
  const std::vector<events::Observation> observations =
      EventObservations(summary, reference_index, query_frames);
  const std::vector<events::ChangeEvent> change_events =
      events::GroupIntoEvents(observations, run_options.events);
  std::vector<std::string> query_names;
  for (const QueryOutcome& q : summary.queries) query_names.push_back(q.query);
  summary.events = events::EventsToJson(change_events, observations, query_names);
  WriteTextFileAtomically(out_dir / "events.json", json{{"events", summary.events}}.dump(1));

  report::InspectionReportInput report_input;
  report_input.title = title;
  report_input.events = change_events;
  report_input.observations = observations;
  for (const retrieval::RunFrame& f : references.frames) {
    report_input.reference_positions.push_back(
        f.pose ? std::optional<Eigen::Vector3d>(f.pose->position) : std::nullopt);
  }
  for (const QueryOutcome& q : summary.queries) {
    const retrieval::RunFrame* f = query_frames.at(q.query);
    report_input.query_positions.push_back(
        f->pose ? std::optional<Eigen::Vector3d>(f->pose->position) : std::nullopt);
  }
  for (const events::ChangeEvent& e : change_events) {
    const events::Observation& o = observations[e.best_observation];
    report_input.event_crops[e.id] = EventCrops(
        o, query_frames.at(query_names[o.frame])->image,
        o.reference >= 0 ? inspector.ReferencePixels(o.reference) : cv::Mat(), run_options.max_pixels);
  }
  report_input.config = summary.config;
  report_input.config["threshold_source"] = summary.threshold_source;
  for (const QueryOutcome& outcome : summary.queries) report_input.queries.push_back(outcome.record);
  report_input.total_timings_ms = summary.total_timings_ms;
  json skipped = json::array();
  for (const SkippedFrame& s : summary.skipped) {
    skipped.push_back({{"image", s.image}, {"run", s.run}, {"reason", s.reason}});
  }
  report_input.skipped = summary.skipped;
  // Always written, empty or not, so a stale list from an earlier run cannot survive.
  WriteTextFileAtomically(out_dir / "skipped.json", json{{"skipped", skipped}}.dump(1));
  if (inspector.calibration()) report_input.calibration_plot = RenderCalibrationPlot(*inspector.calibration());
  report::WriteInspectionReport(out_dir, report_input);
}

}  // namespace

InspectionSummary RunInspection(const fs::path& reference_dir, const fs::path& query_dir,
                                const fs::path& out_dir, const InspectorOptions& options,
                                const CancelToken* cancel) {
  InspectorOptions run_options = options;
  if (!fs::is_directory(reference_dir)) run_options.single_reference = true;
  run_options.Check();
  retrieval::Run reference = LoadReference(reference_dir, run_options);
  const retrieval::Run query = LoadQueries(query_dir, run_options);
  VIGIL_CHECK(!reference.frames.empty(), "{}: the reference run has no images", reference_dir.string());
  InspectionSummary summary;
  DropUnreadableFrames(&reference, "reference", run_options, &summary.skipped);
  VIGIL_CHECK(!reference.frames.empty(), "{}: no reference image could be read ({} skipped: {})",
              reference_dir.string(), summary.skipped.size(),
              summary.skipped.empty() ? "" : summary.skipped.front().reason);
  const WorkerFactory make_worker = [&reference](const InspectorOptions& o) {
    auto worker = std::make_unique<Worker>();
    worker->inspector = std::make_unique<Inspector>(reference, o);
    return worker;
  };
  InspectQueries(make_worker, query, out_dir, run_options, cancel,
                 fmt::format("vigil inspect: {} vs {}", query_dir.string(), reference_dir.string()),
                 summary);
  return summary;
}

InspectionSummary RunInspectionWithMap(const fs::path& map_path, const fs::path& query_dir,
                                       const fs::path& out_dir, const InspectorOptions& options,
                                       const CancelToken* cancel) {
  options.Check();
  VIGIL_CHECK(!options.single_reference, "{}: a map holds a run; single_reference does not apply",
              map_path.string());
  const retrieval::Run query = LoadQueries(query_dir, options);
  InspectionSummary summary;
  const WorkerFactory make_worker = [&map_path](const InspectorOptions& o) {
    auto worker = std::make_unique<Worker>();
    worker->map.emplace(map::MapStore::OpenReadOnly(map_path));
    worker->inspector = std::make_unique<Inspector>(worker->map->ReferenceRun(), o, &*worker->map);
    return worker;
  };
  InspectQueries(make_worker, query, out_dir, options, cancel,
                 fmt::format("vigil inspect: {} vs map {}", query_dir.string(), map_path.string()),
                 summary);
  return summary;
}

}  // namespace vigil
