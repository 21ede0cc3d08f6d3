// Dense change evidence (vigil/dense): ScorePair + ExtractRegions at 640x480, and the DeepPCB
// template-inspection figures.
//
// BM_DenseScorePair640: a synthetic 640x480 textured query with a gain/offset change and a flat
// blob pasted in, against its reference. Before timing it checks that exactly the blob is found
// (one "new" region covering it). Goal: well under 150 ms on 2 cores.
//
// Predictions on ../shared/data/deeppcb-dev (not a benchmark; written for `vigil eval-changes`):
//   build/bench/bench_dense --deeppcb-predict OUT
// writes OUT/<variant>/masks/<query stem>.png (255 = change) and OUT/<variant>/<stem>.json
// ({"reference": {"image": ...}}) for variant = <method>_far<rate>_<mask|box>, method dense
// (the defaults) or diff (plain |q - r|: window_radius 0, same blur, normalisation and
// regions). The threshold is CalibrateThreshold on change-free pairs: each template against
// itself translated by a sub-pixel registration residual (0.5, 0.5) px and JPEG re-encoded
// (quality 75), never tuned on the tested boards. Registration is the caller's: the bench removes
// the residual global translation of each pair by phase correlation and passes it as the
// homography (DENSE_NO_REFINE=1 skips that). DENSE_WINDOW, DENSE_OPEN, DENSE_MIN_PX, DENSE_BLUR
// override the dense options for sweeps; DENSE_SKIP_DIFF=1 skips the baseline. "box" fills each region's bounding box
// (DeepPCB ground truth is boxes); "mask" writes the region pixels.
//
// The deep channel (dense/deep_change.h; needs ../shared/models/mobilenet_v2):
// BM_DeepFeatures640 times ComputeDeepFeatures of a 640x480 query, BM_ScoreDeep640 ScoreDeep +
// ExtractRegions against a reference whose features exist already (a map stores them); both
// first check that a pasted flat blob is the top region. DEEP_SCALE sets input_scale.
//   build/bench/bench_dense --deeppcb-deep OUT
// scores deeppcb-dev with the photometric channel (defaults), the deep one and their combination
// (per pixel max of each score over its own threshold), writes box predictions
// OUT/{photo,deep,combined}_far<rate>_box and prints object precision / recall with "any
// overlap" matching (eval::EvaluateChangeDataset, min_coverage 0.01). Thresholds: calibrated on
// each template against its SimulateCleanQuery; "_realclean_" variants instead on real pairs'
// pixels far from defects, two-fold (never a pair's own); DEEP_SWEEP=1 adds fixed deep
// thresholds. DEEP_TAPS (comma list), DEEP_WINDOW, DEEP_SCALE, DEEP_BLUR override the deep
// options. --deeppcb-diagnose prints, per pair, deep score quantiles far from / on defects and
// of simulated shifts (DEEP_N pairs).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "bench_util.h"
#include "vigil/dense/change_map.h"
#include "vigil/dense/deep_change.h"
#include "vigil/dense/dense_test_util.h"
#include "vigil/dense/registration.h"
#include "vigil/eval/change_metrics.h"
#include "vigil/util/model_path.h"

namespace {

namespace fs = std::filesystem;
using vigil::dense::ChangeMap;
using vigil::dense::DenseChangeOptions;

using vigil::bench::SharedDir;  // bench_util.h

using vigil::dense::testing_util::Texture;  // dense/dense_test_util.h

void BM_DenseScorePair640(benchmark::State& state) {
  const cv::Mat reference = Texture({640, 480}, 11);
  cv::Mat query;
  reference.convertTo(query, CV_8U, 0.9, 12);
  const cv::Rect blob(300, 200, 40, 30);
  query(blob).setTo(250);
  const DenseChangeOptions options;
  constexpr double kThreshold = 40;
  const auto regions = vigil::dense::ExtractRegions(
      vigil::dense::ScorePair(query, reference, cv::Mat(), options), kThreshold, options);
  if (regions.size() != 1 || regions[0].kind != "new" ||
      cv::countNonZero(regions[0].mask(blob)) < 0.7 * blob.area()) {
    state.SkipWithError("the synthetic blob was not found as one new region");
    return;
  }
  for (auto _ : state) {
    const ChangeMap map = vigil::dense::ScorePair(query, reference, cv::Mat(), options);
    benchmark::DoNotOptimize(vigil::dense::ExtractRegions(map, kThreshold, options));
  }
}
BENCHMARK(BM_DenseScorePair640)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// The deep channel at 640x480: what one query adds (its features + ScoreDeep against one
// reference whose features were computed once, as a map stores them). Checks first that a
// pasted flat blob is the top region.
struct DeepBench {
  cv::Mat reference, query;
  cv::Rect blob{300, 200, 40, 30};
  vigil::dense::DeepChangeOptions options;
  std::unique_ptr<vigil::spade::Backbone> backbone;
  vigil::dense::DeepFeatures reference_features;
  vigil::dense::Registration registration;
  bool ok = false;
  DeepBench() {
    const fs::path model = SharedDir() / "models" / "mobilenet_v2" / "mobilenet_v2_1.0_224_spade.onnx";
    if (!fs::exists(model)) return;
    if (const char* sc = std::getenv("DEEP_SCALE")) options.input_scale = std::atof(sc);
    cv::resize(Texture({214, 160}, 11), reference, {640, 480}, 0, 0, cv::INTER_CUBIC);
    reference.convertTo(query, CV_8U, 0.9, 12);
    query(blob).setTo(250);
    backbone = std::make_unique<vigil::spade::Backbone>(
        vigil::dense::DeepBackboneOptions(model.string(), reference.size(), options));
    reference_features = vigil::dense::ComputeDeepFeatures(*backbone, reference, options);
    registration = vigil::dense::RegistrationFromHomography(cv::Mat(), query.size(), reference.size());
    const ChangeMap map = vigil::dense::ScoreDeep(
        vigil::dense::ComputeDeepFeatures(*backbone, query, options), reference_features,
        registration, options);
    const auto regions = vigil::dense::ExtractRegions(map, 0.4, DenseChangeOptions());
    ok = !regions.empty() && cv::countNonZero(regions[0].mask(blob)) >= 0.8 * blob.area();
  }
};

DeepBench& SharedDeepBench() {
  static DeepBench bench;
  return bench;
}

void BM_DeepFeatures640(benchmark::State& state) {
  DeepBench& b = SharedDeepBench();
  if (!b.ok) {
    state.SkipWithError("no model, or the synthetic blob was not the top deep region");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(vigil::dense::ComputeDeepFeatures(*b.backbone, b.query, b.options));
  }
}
BENCHMARK(BM_DeepFeatures640)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

void BM_ScoreDeep640(benchmark::State& state) {
  DeepBench& b = SharedDeepBench();
  if (!b.ok) {
    state.SkipWithError("no model, or the synthetic blob was not the top deep region");
    return;
  }
  const auto query = vigil::dense::ComputeDeepFeatures(*b.backbone, b.query, b.options);
  for (auto _ : state) {
    const ChangeMap map =
        vigil::dense::ScoreDeep(query, b.reference_features, b.registration, b.options);
    benchmark::DoNotOptimize(vigil::dense::ExtractRegions(map, 0.4, DenseChangeOptions()));
  }
}
BENCHMARK(BM_ScoreDeep640)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

std::vector<std::pair<std::string, std::string>> ReadPairs(const fs::path& csv) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t comma = line.find(',');
    if (comma != std::string::npos) pairs.emplace_back(line.substr(0, comma), line.substr(comma + 1));
  }
  return pairs;
}

using vigil::dense::SimulateCleanQuery;

// Registration refinement done by the caller, not the stage: DeepPCB pairs are aligned up to a
// residual translation of a few pixels, which phase correlation recovers (query -> reference).
cv::Mat RefineTranslation(const cv::Mat& query, const cv::Mat& reference) {
  cv::Mat h = cv::Mat::eye(3, 3, CV_64F);
  if (std::getenv("DENSE_NO_REFINE") != nullptr || query.size() != reference.size()) return h;
  cv::Mat q, r;
  query.convertTo(q, CV_32F);
  reference.convertTo(r, CV_32F);
  const cv::Point2d shift = cv::phaseCorrelate(q, r);  // r(x + shift) ~ q(x)
  h.at<double>(0, 2) = shift.x;
  h.at<double>(1, 2) = shift.y;
  return h;
}

int PredictDeepPcb(const fs::path& out) {
  const fs::path data = SharedDir() / "data" / "deeppcb-dev";
  const auto pairs = ReadPairs(data / "pairs.csv");
  if (pairs.empty()) {
    std::fprintf(stderr, "no pairs in %s\n", (data / "pairs.csv").c_str());
    return 1;
  }
  struct Method {
    std::string name;
    DenseChangeOptions options;
  };
  std::vector<Method> methods(2);
  methods[0].name = "dense";
  methods[1].name = "diff";
  methods[1].options.window_radius = 0;
  if (const char* r = std::getenv("DENSE_WINDOW")) methods[0].options.window_radius = std::atoi(r);
  if (const char* m = std::getenv("DENSE_MIN_PX")) {
    for (auto& method : methods) method.options.min_region_px = std::atoi(m);
  }
  if (const char* o = std::getenv("DENSE_OPEN")) {
    for (auto& method : methods) method.options.open_radius = std::atoi(o);
  }
  if (const char* b = std::getenv("DENSE_BLUR")) {
    for (auto& method : methods) method.options.blur_sigma = std::atof(b);
  }
  const std::vector<double> rates = {1e-3, 1e-4, 1e-5};
  if (std::getenv("DENSE_SKIP_DIFF")) methods.pop_back();

  std::vector<cv::Mat> queries, references;
  std::vector<cv::Mat> homographies;
  for (const auto& [q, r] : pairs) {
    queries.push_back(cv::imread((data / "query" / q).string(), cv::IMREAD_GRAYSCALE));
    references.push_back(cv::imread((data / "reference" / r).string(), cv::IMREAD_GRAYSCALE));
    homographies.push_back(RefineTranslation(queries.back(), references.back()));
  }
  for (const Method& method : methods) {
    std::vector<ChangeMap> clean, maps;
    double ms = 0;
    for (size_t i = 0; i < pairs.size(); ++i) {
      clean.push_back(vigil::dense::ScorePair(SimulateCleanQuery(references[i]), references[i],
                                              cv::Mat(), method.options));
      const auto t0 = std::chrono::steady_clock::now();
      maps.push_back(
          vigil::dense::ScorePair(queries[i], references[i], homographies[i], method.options));
      ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    for (double rate : rates) {
      const auto cal = vigil::dense::CalibrateThreshold(clean, rate);
      std::printf("%s far %g: threshold %.2f over %lld clean pixels (%d maps), ScorePair %.1f ms "
                  "mean\n",
                  method.name.c_str(), rate, cal.threshold,
                  static_cast<long long>(cal.num_pixels), cal.num_maps, ms / pairs.size());
      for (const char* style : {"mask", "box"}) {
        const fs::path dir = out / (method.name + "_far" + fmt::format("{:g}", rate) + "_" + style);
        fs::create_directories(dir / "masks");
        for (size_t i = 0; i < pairs.size(); ++i) {
          const auto regions = vigil::dense::ExtractRegions(maps[i], cal.threshold, method.options);
          cv::Mat mask = cv::Mat::zeros(queries[i].size(), CV_8U);
          for (const auto& region : regions) {
            if (std::string(style) == "box") {
              mask(region.bbox).setTo(255);
            } else {
              mask.setTo(255, region.mask);
            }
          }
          const std::string stem = fs::path(pairs[i].first).stem().string();
          cv::imwrite((dir / "masks" / (stem + ".png")).string(), mask);
          std::ofstream(dir / (stem + ".json"))
              << nlohmann::json{{"query", pairs[i].first},
                                {"reference", {{"image", pairs[i].second}}}}
                     .dump();
        }
      }
    }
  }
  return 0;
}


// Writes one variant's predictions (regions of `maps` above `threshold`) for eval-changes.
void WriteVariant(const fs::path& dir, const std::vector<std::pair<std::string, std::string>>& pairs,
                  const std::vector<ChangeMap>& maps, const std::vector<double>& thresholds,
                  const DenseChangeOptions& region_options) {
  fs::create_directories(dir / "masks");
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto regions = vigil::dense::ExtractRegions(maps[i], thresholds[i], region_options);
    cv::Mat mask = cv::Mat::zeros(maps[i].valid.size(), CV_8U);
    for (const auto& region : regions) mask(region.bbox).setTo(255);
    const std::string stem = fs::path(pairs[i].first).stem().string();
    cv::imwrite((dir / "masks" / (stem + ".png")).string(), mask);
    std::ofstream(dir / (stem + ".json"))
        << nlohmann::json{{"query", pairs[i].first}, {"reference", {{"image", pairs[i].second}}}}
               .dump();
  }
}

// Each score divided by its channel's calibrated threshold, then the per-pixel max: a pixel is
// a change when either channel alone calls it one.
ChangeMap CombineNormalised(const ChangeMap& photo, double photo_threshold, const ChangeMap& deep,
                            double deep_threshold) {
  ChangeMap out;
  const cv::Mat pn = photo.new_score / photo_threshold, dn = deep.new_score / deep_threshold;
  const cv::Mat pm = photo.missing_score / photo_threshold;
  const cv::Mat dm = deep.missing_score / deep_threshold;
  cv::max(pn, dn, out.new_score);
  cv::max(pm, dm, out.missing_score);
  out.valid = photo.valid & deep.valid;
  out.new_score.setTo(0, out.valid == 0);
  out.missing_score.setTo(0, out.valid == 0);
  return out;
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    const std::string part = s.substr(start, comma == std::string::npos ? comma : comma - start);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// --deeppcb-deep OUT: the deep channel (ScoreDeep), the photometric one (ScorePair, defaults)
// and their combination on deeppcb-dev, box predictions at a false-alarm rate of 1e-3 (and
// 1e-4) calibrated on each template against its SimulateCleanQuery. Variants
// deep_far<rate>_box, photo_far<rate>_box, combined_far<rate>_box. DEEP_TAPS (comma list),
// DEEP_WINDOW, DEEP_SCALE override the deep options.
int PredictDeepPcbDeep(const fs::path& out) {
  const fs::path data = SharedDir() / "data" / "deeppcb-dev";
  const auto pairs = ReadPairs(data / "pairs.csv");
  if (pairs.empty()) {
    std::fprintf(stderr, "no pairs in %s\n", (data / "pairs.csv").c_str());
    return 1;
  }
  vigil::dense::DeepChangeOptions deep_options;
  if (const char* t = std::getenv("DEEP_TAPS")) deep_options.taps = SplitComma(t);
  if (const char* w = std::getenv("DEEP_WINDOW")) deep_options.window_cells = std::atoi(w);
  if (const char* sc = std::getenv("DEEP_SCALE")) deep_options.input_scale = std::atof(sc);
  if (const char* b = std::getenv("DEEP_BLUR")) deep_options.blur_sigma = std::atof(b);
  const DenseChangeOptions photo_options;
  const std::string model = vigil::FindModelFile("", vigil::dense::DeepModelSpec()).string();

  std::vector<ChangeMap> photo, photo_clean, deep, deep_clean;
  std::vector<cv::Mat> far_from_defects;  // CV_8U 255 farther than 16 px from every defect box
  double feature_ms = 0, score_ms = 0;
  std::unique_ptr<vigil::spade::Backbone> backbone;
  cv::Size backbone_size;
  auto features = [&](const cv::Mat& image) {
    if (!backbone || backbone_size != image.size()) {
      backbone = std::make_unique<vigil::spade::Backbone>(
          vigil::dense::DeepBackboneOptions(model, image.size(), deep_options));
      backbone_size = image.size();
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto f = vigil::dense::ComputeDeepFeatures(*backbone, image, deep_options);
    feature_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return f;
  };
  for (size_t i = 0; i < pairs.size(); ++i) {
    const cv::Mat query = cv::imread((data / "query" / pairs[i].first).string(), cv::IMREAD_GRAYSCALE);
    const cv::Mat reference =
        cv::imread((data / "reference" / pairs[i].second).string(), cv::IMREAD_GRAYSCALE);
    const cv::Mat h = RefineTranslation(query, reference);
    const cv::Mat labels = cv::imread(
        (data / "ground_truth" / (fs::path(pairs[i].first).stem().string() + ".png")).string(),
        cv::IMREAD_UNCHANGED);
    cv::Mat near;
    cv::dilate(labels > 0, near, cv::getStructuringElement(cv::MORPH_RECT, {33, 33}));
    far_from_defects.push_back(near == 0);
    const cv::Mat clean = SimulateCleanQuery(reference);
    photo.push_back(vigil::dense::ScorePair(query, reference, h, photo_options));
    photo_clean.push_back(vigil::dense::ScorePair(clean, reference, cv::Mat(), photo_options));
    const auto fr = features(reference);
    const auto fq = features(query);
    const auto fc = features(clean);
    const auto t0 = std::chrono::steady_clock::now();
    deep.push_back(vigil::dense::ScoreDeep(
        fq, fr, vigil::dense::RegistrationFromHomography(h, query.size(), reference.size()),
        deep_options));
    score_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    deep_clean.push_back(vigil::dense::ScoreDeep(
        fc, fr, vigil::dense::RegistrationFromHomography(cv::Mat(), clean.size(), reference.size()),
        deep_options));
  }
  std::printf("deep: ComputeDeepFeatures %.1f ms per image, ScoreDeep %.1f ms per pair\n",
              feature_ms / (3.0 * pairs.size()), score_ms / pairs.size());
  for (double rate : {1e-3, 1e-4}) {
    const auto photo_cal = vigil::dense::CalibrateThreshold(photo_clean, rate);
    const auto deep_cal = vigil::dense::CalibrateThreshold(deep_clean, rate);
    std::vector<ChangeMap> combined, combined_clean;
    for (size_t i = 0; i < pairs.size(); ++i) {
      combined.push_back(
          CombineNormalised(photo[i], photo_cal.threshold, deep[i], deep_cal.threshold));
      combined_clean.push_back(CombineNormalised(photo_clean[i], photo_cal.threshold,
                                                 deep_clean[i], deep_cal.threshold));
    }
    const auto combined_cal = vigil::dense::CalibrateThreshold(combined_clean, rate);
    std::printf("far %g: thresholds photo %.3f deep %.4f combined %.3f\n", rate,
                photo_cal.threshold, deep_cal.threshold, combined_cal.threshold);
    const std::string suffix = "_far" + fmt::format("{:g}", rate) + "_box";
    auto write_each = [&](const std::string& name, const std::vector<ChangeMap>& maps,
                          const std::vector<double>& t) {
      const fs::path dir = out / name;
      WriteVariant(dir, pairs, maps, t, photo_options);
      vigil::eval::ChangeMetricsOptions eval_options;
      eval_options.min_coverage = 0.01;  // any overlap with a defect box finds it
      const auto e = vigil::eval::EvaluateChangeDataset(data, dir, eval_options).overall;
      std::printf("  %-28s threshold %.4f/%.4f: precision %.3f recall %.3f F1 %.3f (%d regions)\n",
                  name.c_str(), t.front(), t.back(), e.precision, e.recall, e.f1, e.counts.regions);
    };
    auto write = [&](const std::string& name, const std::vector<ChangeMap>& maps, double t) {
      write_each(name, maps, std::vector<double>(maps.size(), t));
    };
    write("photo" + suffix, photo, photo_cal.threshold);
    write("deep" + suffix, deep, deep_cal.threshold);
    write("combined" + suffix, combined, combined_cal.threshold);
    if (rate == 1e-3 && std::getenv("DEEP_SWEEP") != nullptr) {
      // Not calibrated: how far the deep channel could go with a threshold set on defects.
      for (double t : {0.3, 0.4, 0.5, 0.6, 0.7, 0.8}) {
        write(fmt::format("deep_fixed{:g}_box", t), deep, t);
      }
      for (double t : {1.5, 2.0, 3.0}) {
        write(fmt::format("combined_fixed{:g}_box", t), combined, t);
      }
    }
    // Calibrated on REAL change-free pixels instead of the simulation: two folds (even / odd
    // pairs), each thresholded at `rate` over the pixels of the other fold's real pairs that lie
    // farther than 16 px (a stride-4 receptive field) from every defect box. What a site's
    // commissioning run of clean captures would give.
    auto real_cv = [&](const std::vector<ChangeMap>& maps) {
      std::vector<double> per_pair(maps.size());
      for (int fold = 0; fold < 2; ++fold) {
        std::vector<ChangeMap> clean_maps;
        for (size_t i = 0; i < maps.size(); ++i) {
          if (static_cast<int>(i % 2) == fold) continue;
          ChangeMap m = maps[i];  // shares the score buffers: only `valid` is replaced
          cv::Mat valid;
          cv::bitwise_and(maps[i].valid, far_from_defects[i], valid);
          m.valid = valid;  // a new buffer; assigning `a & b` would write into maps[i]'s
          clean_maps.push_back(m);
        }
        const double t = vigil::dense::CalibrateThreshold(clean_maps, rate).threshold;
        for (size_t i = 0; i < maps.size(); ++i)
          if (static_cast<int>(i % 2) == fold) per_pair[i] = t;
      }
      return per_pair;
    };
    const auto photo_real = real_cv(photo), deep_real = real_cv(deep);
    std::vector<ChangeMap> combined_real;
    for (size_t i = 0; i < pairs.size(); ++i)
      combined_real.push_back(CombineNormalised(photo[i], photo_real[i], deep[i], deep_real[i]));
    write_each("photo_realclean" + suffix, photo, photo_real);
    write_each("deep_realclean" + suffix, deep, deep_real);
    write_each("combined_realclean" + suffix, combined_real, real_cv(combined_real));
  }
  return 0;
}


cv::Mat Pre(const cv::Mat& image) {
  const char* b = std::getenv("DEEP_BLUR");
  if (b == nullptr || std::atof(b) <= 0) return image;
  cv::Mat out;
  cv::GaussianBlur(image, out, cv::Size(0, 0), std::atof(b));
  return out;
}

int DiagnoseDeep() {
  const fs::path data = SharedDir() / "data" / "deeppcb-dev";
  const auto pairs = ReadPairs(data / "pairs.csv");
  vigil::dense::DeepChangeOptions o;
  if (const char* t = std::getenv("DEEP_TAPS")) o.taps = SplitComma(t);
  if (const char* w = std::getenv("DEEP_WINDOW")) o.window_cells = std::atoi(w);
  if (const char* sc = std::getenv("DEEP_SCALE")) o.input_scale = std::atof(sc);
  const std::string model = vigil::FindModelFile("", vigil::dense::DeepModelSpec()).string();
  vigil::spade::Backbone backbone(vigil::dense::DeepBackboneOptions(model, {640, 640}, o));
  const int n = std::getenv("DEEP_N") ? std::atoi(std::getenv("DEEP_N")) : 10;
  for (int i = 0; i < n && i < static_cast<int>(pairs.size()); ++i) {
    const cv::Mat query = cv::imread((data / "query" / pairs[i].first).string(), cv::IMREAD_GRAYSCALE);
    const cv::Mat reference =
        cv::imread((data / "reference" / pairs[i].second).string(), cv::IMREAD_GRAYSCALE);
    cv::Mat gt = cv::imread((data / "ground_truth" / (fs::path(pairs[i].first).stem().string() + ".png")).string(), cv::IMREAD_UNCHANGED);
    cv::Mat gt8 = gt > 0;
    cv::Mat far;
    cv::dilate(gt8, far, cv::getStructuringElement(cv::MORPH_RECT, {33, 33}));
    far = far == 0;
    const cv::Mat h = RefineTranslation(query, reference);
    const auto fr = vigil::dense::ComputeDeepFeatures(backbone, Pre(reference));
    auto score = [&](const cv::Mat& q, const cv::Mat& hh) {
      return vigil::dense::ScoreDeep(vigil::dense::ComputeDeepFeatures(backbone, Pre(q)), fr,
          vigil::dense::RegistrationFromHomography(hh, q.size(), reference.size()), o);
    };
    const ChangeMap real = score(query, h);
    const cv::Mat rs = real.Score();
    std::printf("%s shift (%.2f %.2f): real far p99 %.3f p999 %.3f | gt p50 %.3f p90 %.3f", pairs[i].first.c_str(),
                h.at<double>(0, 2), h.at<double>(1, 2), vigil::dense::testing_util::Quantile(rs, far & real.valid, 0.99),
                vigil::dense::testing_util::Quantile(rs, far & real.valid, 0.999), vigil::dense::testing_util::Quantile(rs, gt8 & real.valid, 0.5),
                vigil::dense::testing_util::Quantile(rs, gt8 & real.valid, 0.9));
    for (double sh : {0.5, 1.0, 2.0}) {
      const cv::Mat t = (cv::Mat_<double>(2, 3) << 1, 0, sh, 0, 1, sh);
      cv::Mat shifted;
      cv::warpAffine(reference, shifted, t, reference.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
      const ChangeMap c = score(shifted, cv::Mat());
      std::printf(" | sim %.1f p999 %.3f", sh, vigil::dense::testing_util::Quantile(c.Score(), c.valid, 0.999));
    }
    std::printf("\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--deeppcb-predict") return PredictDeepPcb(argv[2]);
  if (argc == 2 && std::string(argv[1]) == "--deeppcb-diagnose") return DiagnoseDeep();
  if (argc == 3 && std::string(argv[1]) == "--deeppcb-deep") return PredictDeepPcbDeep(argv[2]);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
