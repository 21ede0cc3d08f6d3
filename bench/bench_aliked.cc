// ALIKED-t16 and -n16 on a 640x480 image with 2 threads (issue 6): wall time per image, achieved
// GFLOP/s, peak memory, beside a same-run OpenBLAS sgemm figure and the authors' PyTorch times
// (../shared/fixtures/REFERENCE_TIMINGS.md). Each benchmark first checks its output against the
// authors' fixture (keypoints within 0.05 px), so a fast wrong answer fails instead of counting.
//
// Run: build/bench/bench_aliked [--benchmark_repetitions=5]   (VIGIL_BENCH_THREADS=1 for 1 thread)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/resource.h>
#include <vector>

#include <benchmark/benchmark.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "vigil/features/extractor.h"
#include "vigil/nn/gemm.h"

#include "roofline.h"

namespace {

namespace fs = std::filesystem;

// CPU seconds (user + system, all threads) this process has used so far. On a shared machine the
// wall time depends on the other jobs; CPU time per image / threads estimates the unloaded time.
double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

const fs::path kShared = VIGIL_SHARED_DIR;
// 2 threads as in REFERENCE_TIMINGS.md; VIGIL_BENCH_THREADS overrides (e.g. 1 for profiling).
int Threads() {
  const char* env = std::getenv("VIGIL_BENCH_THREADS");
  return env != nullptr ? std::max(1, std::atoi(env)) : 2;
}
constexpr int kTopK = 1024;

struct Config {
  int c1, c2, c3, c4, dim, m;
};

// Multiply-adds x 2 of the convolutions vigil's ALIKED runs on an h x w image with n keypoints,
// counted as direct convolution (nn runs 3x3 convs with >= 16 input channels as Winograd, with
// fewer multiplies): encoder incl. offset convs, aggregation, the score head as vigil computes it
// (score_head.0 per scale, before upsampling), and the SDDH GEMMs. Element-wise work (SELU,
// pooling, upsampling, bilinear sampling, DKD) is not counted.
double AlikedGflop(const Config& c, int h, int w, int n) {
  const double hw = static_cast<double>(h) * w;
  const int q = c.dim / 4;
  auto conv = [](double pixels, int cin, int cout, int k) {
    return 2.0 * pixels * cin * cout * k * k;
  };
  double f = 0;
  f += conv(hw, 3, c.c1, 3) + conv(hw, c.c1, c.c1, 3);
  const double hw2 = hw / 4, hw8 = hw / 64, hw32 = hw / 1024;
  f += conv(hw2, c.c1, c.c2, 3) + conv(hw2, c.c2, c.c2, 3) + conv(hw2, c.c1, c.c2, 1);
  f += conv(hw8, c.c2, 18, 3) + conv(hw8, c.c2, c.c3, 3) + conv(hw8, c.c3, 18, 3) +
       conv(hw8, c.c3, c.c3, 3) + conv(hw8, c.c2, c.c3, 1);
  f += conv(hw32, c.c3, 18, 3) + conv(hw32, c.c3, c.c4, 3) + conv(hw32, c.c4, 18, 3) +
       conv(hw32, c.c4, c.c4, 3) + conv(hw32, c.c3, c.c4, 1);
  f +=
      conv(hw, c.c1, q, 1) + conv(hw2, c.c2, q, 1) + conv(hw8, c.c3, q, 1) + conv(hw32, c.c4, q, 1);
  f += conv(hw + hw2 + hw8 + hw32, q, 8, 1);  // score_head.0 per scale
  f += conv(hw, 8, 4, 3) + conv(hw, 4, 4, 3) + conv(hw, 4, 1, 3);
  const int m2 = 2 * c.m;
  f += 2.0 * n * (c.dim * 9.0 * m2 + m2 * m2 + 2.0 * c.m * c.dim * c.dim);
  return f * 1e-9;
}

void BM_Aliked(benchmark::State& state, const std::string& model, Config config,
               double reference_ms) {
  const fs::path image_path = kShared / "fixtures" / "images" / "scannet0.png";
  const fs::path fixture = kShared / "fixtures" / "aliked" / (model + "_top1024_scannet0.yml.gz");
  const cv::Mat image = cv::imread(image_path.string(), cv::IMREAD_COLOR);
  if (image.empty()) {
    state.SkipWithError(("missing " + image_path.string()).c_str());
    return;
  }
  vigil::nn::SetNumThreads(Threads());
  const double sgemm_before = vigil::bench::MeasureSgemmGflops();

  vigil::FeatureExtractorOptions options;
  options.type = model;
  options.num_threads = Threads();
  options.aliked.top_k = kTopK;
  options.aliked.weights = (kShared / "models" / "aliked" / (model + ".pth")).string();
  auto extractor = vigil::FeatureExtractor::Create(options);

  // Sanity check against the authors' output.
  const vigil::Features f = extractor->Extract(image);
  cv::FileStorage fs(fixture.string(), cv::FileStorage::READ);
  cv::Mat ref;
  fs["keypoints"] >> ref;
  int found = 0;
  for (int i = 0; i < ref.rows; ++i) {
    for (int j = 0; j < f.size(); ++j) {
      if (std::hypot(f.keypoints(j, 0) - ref.at<float>(i, 0),
                     f.keypoints(j, 1) - ref.at<float>(i, 1)) <= 0.05) {
        ++found;
        break;
      }
    }
  }
  if (ref.rows == 0 || f.size() != kTopK || found < 0.98 * ref.rows) {
    state.SkipWithError(("output differs from " + fixture.string()).c_str());
    return;
  }

  const double cpu0 = ProcessCpuSeconds();
  std::vector<double> times_ms;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    const vigil::Features out = extractor->Extract(image);
    benchmark::DoNotOptimize(out.descriptors.data());
    times_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  const double cpu_s = ProcessCpuSeconds() - cpu0;
  const double sgemm = 0.5 * (sgemm_before + vigil::bench::MeasureSgemmGflops());
  std::sort(times_ms.begin(), times_ms.end());
  const double median_ms = times_ms[times_ms.size() / 2];
  const double gflop = AlikedGflop(config, image.rows, image.cols, f.size());
  state.counters["median_ms"] = median_ms;
  state.counters["cpu_ms"] = 1e3 * cpu_s / static_cast<double>(times_ms.size());  // all threads
  state.counters["GFLOP"] = gflop;
  state.counters["GFLOP/s"] = gflop / (1e-3 * median_ms);
  state.counters["of_sgemm"] = gflop / (1e-3 * median_ms) / sgemm;
  state.counters["sgemm_GFLOP/s"] = sgemm;
  state.counters["of_ref"] = median_ms / reference_ms;
  // The wall-time ratio rescaled by how far this run's sgemm falls short of the reference
  // machine's 198 GFLOP/s (2 threads): an estimate for an unloaded machine of that kind.
  state.counters["of_ref_load_scaled"] = median_ms / reference_ms * sgemm / 198.0;
  state.counters["peak_MiB"] = vigil::bench::PeakRssMiB();
  state.counters["fixture_match"] = static_cast<double>(found) / ref.rows;
}

// Reference times: the authors' PyTorch code, 2 threads, REFERENCE_TIMINGS.md (2-core EPYC).
BENCHMARK_CAPTURE(BM_Aliked, t16, std::string("aliked-t16"), Config{8, 16, 32, 64, 64, 16}, 828.0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(3.0);
BENCHMARK_CAPTURE(BM_Aliked, n16, std::string("aliked-n16"), Config{16, 32, 64, 128, 128, 16},
                  2177.0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(3.0);

}  // namespace

BENCHMARK_MAIN();
