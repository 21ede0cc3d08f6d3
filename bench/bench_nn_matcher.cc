// Mutual nearest-neighbour matching (MatchNearestNeighbors, matching/nearest_neighbor.h) at 1k
// and 4k keypoints per image, 256-d descriptors like SuperPoint's.
//
// Input: image 0 gets N random unit vectors (seeded); image 1 gets the same vectors in a random
// order (the planted permutation) with Gaussian noise added and renormalised, so every keypoint
// has exactly one true partner at cosine similarity ~0.9 while unrelated pairs stay near 0
// (max ~0.3 over 4k x 4k pairs). Before timing, the matcher must recover >= 99% of the planted
// pairs; otherwise the benchmark reports an error instead of a time.
//
// Counters: median_ms, GFLOP/s (the 2 N0 N1 D flop of the similarity GEMM / median time; the
// candidate scan and normalisation are counted as time, not flop), sgemm_GFLOP/s (2048^3
// OpenBLAS sgemm with the same thread count, mean of before and after the loop), of_sgemm,
// gemm_ms (that GEMM alone, same shape and threads) and rest_ms (median_ms - gemm_ms: the
// normalisation, the best/second-best scan and the output), recovered (fraction of planted
// pairs found), peak_MiB.
//
//   build/bench/bench_nn_matcher --benchmark_filter='threads:2'
#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "vigil/matching/nearest_neighbor.h"
#include "vigil/nn/gemm.h"

#include "roofline.h"

namespace {

constexpr int kDim = 256;        // SuperPoint descriptor size
constexpr float kNoise = 0.03f;  // per-component noise; |noise| ~ 0.03 * 16 = 0.48 -> cos ~0.9
constexpr unsigned kSeed = 20261126;

struct PlantedPair {
  vigil::Features f0, f1;
  std::vector<int> partner;  // partner[i] = the keypoint of image 1 planted for keypoint i
};

void RandomKeypoints(std::mt19937& rng, vigil::Features* f, int n) {
  std::uniform_real_distribution<float> x(0.f, 639.f), y(0.f, 479.f), score(0.f, 1.f);
  f->keypoints.resize(n, 2);
  f->scores.resize(n);
  for (int i = 0; i < n; ++i) {
    f->keypoints(i, 0) = x(rng);
    f->keypoints(i, 1) = y(rng);
    f->scores(i) = score(rng);
  }
  f->image_width = 640;
  f->image_height = 480;
  f->extractor = "superpoint";
}

PlantedPair MakePlantedPair(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss(0.f, 1.f);
  PlantedPair pair;
  RandomKeypoints(rng, &pair.f0, n);
  RandomKeypoints(rng, &pair.f1, n);
  pair.f0.descriptors.resize(n, kDim);
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < kDim; ++k) pair.f0.descriptors(i, k) = gauss(rng);
    pair.f0.descriptors.row(i).normalize();
  }
  pair.partner.resize(n);
  std::iota(pair.partner.begin(), pair.partner.end(), 0);
  std::shuffle(pair.partner.begin(), pair.partner.end(), rng);
  pair.f1.descriptors.resize(n, kDim);
  for (int i = 0; i < n; ++i) {
    auto row = pair.f1.descriptors.row(pair.partner[i]);
    for (int k = 0; k < kDim; ++k) row(k) = pair.f0.descriptors(i, k) + kNoise * gauss(rng);
    row.normalize();
  }
  return pair;
}

double Recovered(const vigil::Matches& m, const std::vector<int>& partner) {
  int found = 0;
  for (size_t i = 0; i < partner.size(); ++i) found += m.matches0[i] == partner[i];
  return static_cast<double>(found) / static_cast<double>(partner.size());
}

// Median time of the similarity GEMM by itself (N0 x D times D x N1, as the matcher calls it),
// to split the matcher's time into the GEMM and everything around it.
double SimilarityGemmMs(const PlantedPair& pair, int repeats) {
  const int n0 = pair.f0.size(), n1 = pair.f1.size();
  std::vector<float> c(static_cast<size_t>(n0) * n1);
  std::vector<double> ms;
  for (int r = 0; r < repeats + 1; ++r) {  // the first call warms up
    const auto start = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n0, n1, kDim, 1.f,
                pair.f0.descriptors.data(), kDim, pair.f1.descriptors.data(), kDim, 0.f, c.data(),
                n1);
    if (r > 0) {
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
    }
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void BM_MutualNN(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const PlantedPair pair = MakePlantedPair(n, kSeed + n);
  vigil::NearestNeighborOptions options;  // mutual, no ratio test, threshold 0 (vigil defaults)
  vigil::nn::SetNumThreads(threads);
  const double recovered =
      Recovered(vigil::MatchNearestNeighbors(pair.f0, pair.f1, options), pair.partner);
  if (recovered < 0.99) {
    const std::string error = "only " + std::to_string(100 * recovered) +
                              "% of the planted matches recovered (seed " +
                              std::to_string(kSeed + n) + ")";
    state.SkipWithError(error.c_str());
    return;
  }

  const double sgemm_before = vigil::bench::MeasureSgemmGflops();
  vigil::nn::SetNumThreads(threads);
  std::vector<double> ms;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    vigil::Matches m = vigil::MatchNearestNeighbors(pair.f0, pair.f1, options);
    benchmark::DoNotOptimize(m.matches0.data());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  vigil::nn::SetNumThreads(threads);
  const double gemm_ms = SimilarityGemmMs(pair, 5);
  const double sgemm = 0.5 * (sgemm_before + vigil::bench::MeasureSgemmGflops());
  std::sort(ms.begin(), ms.end());
  const double median_ms = ms[ms.size() / 2];
  const double gflop = 2.0 * n * n * kDim * 1e-9;
  state.counters["median_ms"] = median_ms;
  state.counters["GFLOP/s"] = gflop / (median_ms * 1e-3);
  state.counters["sgemm_GFLOP/s"] = sgemm;
  state.counters["of_sgemm"] = gflop / (median_ms * 1e-3) / sgemm;
  state.counters["gemm_ms"] = gemm_ms;              // the similarity sgemm alone
  state.counters["rest_ms"] = median_ms - gemm_ms;  // normalisation, best/second scan, output
  state.counters["recovered"] = recovered;
  state.counters["peak_MiB"] = vigil::bench::PeakRssMiB();
}
BENCHMARK(BM_MutualNN)
    ->ArgNames({"keypoints", "threads"})
    ->Args({1024, 1})
    ->Args({1024, 2})
    ->Args({4096, 1})
    ->Args({4096, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
