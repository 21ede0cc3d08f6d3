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
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/dense/change_map.h"
#include "vigil/dense/dense_test_util.h"

namespace {

namespace fs = std::filesystem;
using vigil::dense::ChangeMap;
using vigil::dense::DenseChangeOptions;

fs::path SharedDir() {
  const char* env = std::getenv("VIGIL_SHARED_DIR");
  return env != nullptr ? fs::path(env) : fs::path(VIGIL_SHARED_DIR);
}

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

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--deeppcb-predict") return PredictDeepPcb(argv[2]);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
