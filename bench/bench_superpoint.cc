// SuperPoint on a 640x480 frame (fixtures/images/scannet0.png), the whole Extract call: gray
// conversion, encoder, both heads, NMS, top-k 1024, descriptor sampling.
//
// Prints, beside the median time: the achieved GFLOP/s (52.1 GFLOP of direct convolution per
// call; exec_GFLOP/s counts the 15.5 GFLOP of multiplies the Winograd layers actually do),
// the same-run OpenBLAS sgemm GFLOP/s with the same thread count (bench/roofline.h) and their
// ratio, the reference PyTorch time (fixtures/REFERENCE_TIMINGS.md) and the ratio to it, and the
// peak resident memory. Before timing it checks the output against the golden fixture, so a
// fast wrong answer fails instead of looking like progress.
//
//   build/bench/bench_superpoint --benchmark_filter='SuperPoint/threads:2'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "roofline.h"
#include "vigil/features/extractor.h"
#include "vigil/nn/gemm.h"

namespace {

namespace fs = std::filesystem;

// Multiply-adds x 2 of SuperPoint's twelve convolutions on width x height, as direct
// convolution counts them (52.1 GFLOP at 640x480; the reference table's "~50 GFLOP").
// `executed` instead counts what vigil's GEMMs do: the 3x3 layers with >= 16 input channels run
// as Winograd (nn/winograd.h): F(4x4, 3x3) on maps >= 128 wide (1/4 of the multiplies), else
// F(2x2, 3x3) (16/36).
double SuperPointGflop(int width, int height, bool executed) {
  struct Conv {
    int cin, cout, k, scale;  // scale: input downsampling factor
  };
  const Conv convs[] = {{1, 64, 3, 1},     {64, 64, 3, 1},    {64, 64, 3, 2},   {64, 64, 3, 2},
                        {64, 128, 3, 4},   {128, 128, 3, 4},  {128, 128, 3, 8}, {128, 128, 3, 8},
                        {128, 256, 3, 8},  {256, 65, 1, 8},   {128, 256, 3, 8}, {256, 256, 1, 8}};
  double flop = 0;
  for (const Conv& c : convs) {
    const double pixels = static_cast<double>(width / c.scale) * (height / c.scale);
    double winograd = 1.0;
    if (executed && c.k == 3 && c.cin >= 16) winograd = width / c.scale >= 128 ? 0.25 : 16.0 / 36.0;
    flop += 2.0 * c.cin * c.cout * c.k * c.k * pixels * winograd;
  }
  return flop * 1e-9;
}

constexpr double kReferenceMs = 1359.0;  // PyTorch 1.13, 2 threads, AMD EPYC (REFERENCE_TIMINGS.md)
constexpr double kReferenceSgemm = 198.0;  // GFLOP/s, 2048^3 sgemm, 2 threads, same machine

fs::path SharedDir() {
  const char* env = std::getenv("VIGIL_SHARED_DIR");
  return env != nullptr ? fs::path(env) : fs::path(VIGIL_SHARED_DIR);
}

// Checks the output against the reference: >= 99% of its keypoints at the same pixel and the
// count within 1%. Returns an empty string when right, else what is wrong.
std::string CheckAgainstFixture(const vigil::Features& got, const fs::path& fixture) {
  cv::FileStorage fs(fixture.string(), cv::FileStorage::READ);
  if (!fs.isOpened()) return "cannot read " + fixture.string();
  cv::Mat ref;
  fs["keypoints"] >> ref;
  std::set<std::pair<int, int>> ours;
  for (int i = 0; i < got.size(); ++i) {
    ours.insert({static_cast<int>(std::lround(got.keypoints(i, 0))),
                 static_cast<int>(std::lround(got.keypoints(i, 1)))});
  }
  int found = 0;
  for (int r = 0; r < ref.rows; ++r) {
    found += ours.count({static_cast<int>(std::lround(ref.at<float>(r, 0))),
                         static_cast<int>(std::lround(ref.at<float>(r, 1)))});
  }
  if (std::abs(got.size() - ref.rows) > 0.01 * ref.rows || found < 0.99 * ref.rows) {
    return "output differs from " + fixture.string() + ": " + std::to_string(got.size()) +
           " keypoints (reference " + std::to_string(ref.rows) + "), " + std::to_string(found) +
           " at reference positions";
  }
  return "";
}

void BM_SuperPoint(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const fs::path shared = SharedDir();
  // Real weights when present (their fixture has realistic keypoints), else the random ones.
  fs::path weights = shared / "models/superpoint/superpoint_v1_from_fp16.pth";
  fs::path fixture = shared / "fixtures/superpoint_real/scannet0.yml.gz";
  if (!fs::exists(weights)) {
    weights = shared / "fixtures/superpoint/superpoint_random_legacy.pth";
    fixture = shared / "fixtures/superpoint/scannet0.yml.gz";
  }
  const cv::Mat image =
      cv::imread((shared / "fixtures/images/scannet0.png").string(), cv::IMREAD_GRAYSCALE);
  if (image.empty() || !fs::exists(weights)) {
    state.SkipWithError("fixtures not found: set VIGIL_SHARED_DIR");
    return;
  }
  vigil::FeatureExtractorOptions options;
  options.type = "superpoint";
  options.num_threads = threads;
  options.superpoint.weights = weights.string();
  options.superpoint.max_keypoints = 1024;
  auto extractor = vigil::FeatureExtractor::Create(options);
  const std::string error = CheckAgainstFixture(extractor->Extract(image), fixture);
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }

  vigil::nn::SetNumThreads(threads);
  const double sgemm_before = vigil::bench::MeasureSgemmGflops();
  std::vector<double> ms;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    vigil::Features f = extractor->Extract(image);
    benchmark::DoNotOptimize(f.keypoints.data());
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  vigil::nn::SetNumThreads(threads);
  const double sgemm = 0.5 * (sgemm_before + vigil::bench::MeasureSgemmGflops());
  std::sort(ms.begin(), ms.end());
  const double median_ms = ms[ms.size() / 2];
  const double gflops = SuperPointGflop(image.cols, image.rows, false) / (median_ms * 1e-3);
  const double executed = SuperPointGflop(image.cols, image.rows, true) / (median_ms * 1e-3);
  state.counters["median_ms"] = median_ms;
  state.counters["GFLOP/s"] = gflops;            // direct-convolution count / time
  state.counters["exec_GFLOP/s"] = executed;     // multiplies actually done / time
  state.counters["sgemm_GFLOP/s"] = sgemm;
  state.counters["of_sgemm"] = gflops / sgemm;
  state.counters["exec_of_sgemm"] = executed / sgemm;
  state.counters["ref_ms"] = kReferenceMs;
  state.counters["of_ref"] = median_ms / kReferenceMs;
  // On a shared, loaded machine the wall time stretches with the load; scaling it by how far
  // this run's sgemm falls short of the reference machine's estimates the unloaded ratio.
  state.counters["of_ref_load_scaled"] = median_ms * (sgemm / kReferenceSgemm) / kReferenceMs;
  state.counters["peak_MiB"] = vigil::bench::PeakRssMiB();
}
BENCHMARK(BM_SuperPoint)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(3.0);

}  // namespace

BENCHMARK_MAIN();
