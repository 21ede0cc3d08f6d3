// SPADE benchmarks (see bench/README.md, section SPADE):
//   BM_SpadeFitScore      fit on 60 brick train images + score 60 test images (224x224) with the
//                         ResNet-18 fixture backbone, 2 threads: wall time and peak RSS.
//   BM_PixelKnn/<impl>/K  the pixel kNN stage of one query (layer1: 3136 x 64 features against
//                         the K nearest images' 3136 x K pixels): blocked GEMM (impl 0: 2 threads,
//                         2: 1 thread) vs a naive per-pixel loop (impl 1).
//   BM_SpadeScore/K       whole per-image SPADE scoring as K (nearest images) grows.
//   BM_SpadeFit/N         fit time and bank size as the gallery grows.
// Each benchmark checks its output: the GEMM kNN must equal the naive loop, scores must be finite.
#include <cmath>
#include <filesystem>
#include <random>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "vigil/io/image_io.h"
#include "vigil/spade/knn.h"
#include "vigil/spade/pipeline.h"

#include "roofline.h"

namespace {
namespace fs = std::filesystem;
using namespace vigil::spade;

constexpr int kThreads = 2;

fs::path Shared() { return fs::path(VIGIL_SHARED_DIR); }
fs::path Model() { return Shared() / "fixtures" / "spade" / "resnet18_random_taps.onnx"; }
fs::path Brick() { return Shared() / "data" / "textures" / "brick"; }

BackboneOptions FixtureBackbone() {
  BackboneOptions o = BackbonePreset("resnet");
  o.model = Model().string();
  o.num_threads = kThreads;
  return o;
}

AnomalyDetectorOptions Detector(int k) {
  AnomalyDetectorOptions o;
  o.spade.k = k;
  o.knn.num_threads = kThreads;
  return o;
}

std::vector<fs::path> TestImages(size_t count) {
  std::vector<fs::path> tests;
  for (const auto& dir : fs::directory_iterator(Brick() / "test")) {
    for (const auto& p : vigil::io::ListImages(dir.path())) tests.push_back(p);
  }
  std::sort(tests.begin(), tests.end());
  tests.resize(std::min(tests.size(), count));
  return tests;
}

void BM_SpadeFitScore(benchmark::State& state) {
  if (!fs::exists(Model())) return state.SkipWithError("fixture model missing");
  const auto train = vigil::spade::ListTrainImages(Brick() / "train" / "good");
  const auto tests = TestImages(60);
  double fit_s = 0, score_s = 0;
  for (auto _ : state) {
    Backbone backbone(FixtureBackbone());
    auto t0 = std::chrono::steady_clock::now();
    const MemoryBank bank = FitMemoryBank(backbone, Detector(5), train, false, nullptr);
    auto t1 = std::chrono::steady_clock::now();
    const auto detector = AnomalyDetector::Create(Detector(5));
    for (const auto& image : tests) {
      const AnomalyResult r = ScoreImageFile(backbone, *detector, bank, image);
      if (!std::isfinite(r.image_score)) state.SkipWithError("non-finite score");
    }
    auto t2 = std::chrono::steady_clock::now();
    fit_s = std::chrono::duration<double>(t1 - t0).count();
    score_s = std::chrono::duration<double>(t2 - t1).count();
  }
  state.counters["train_images"] = static_cast<double>(train.size());
  state.counters["test_images"] = static_cast<double>(tests.size());
  state.counters["fit_s"] = fit_s;
  state.counters["score_s"] = score_s;
  state.counters["score_ms_per_image"] = 1e3 * score_s / static_cast<double>(tests.size());
  state.counters["peak_rss_MiB"] = vigil::bench::PeakRssMiB();
}
BENCHMARK(BM_SpadeFitScore)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

// Random features with layer1's shape: kNN timing does not depend on the values.
struct PixelProblem {
  int dim = 64;
  int64_t nq = 56 * 56;
  int64_t ng;
  std::vector<float> query, gallery;
  explicit PixelProblem(int k) : ng(static_cast<int64_t>(k) * 56 * 56) {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.f, 1.f);
    query.resize(static_cast<size_t>(nq) * dim);
    gallery.resize(static_cast<size_t>(ng) * dim);
    for (float& v : query) v = normal(rng);
    for (float& v : gallery) v = normal(rng);
  }
};

void BM_PixelKnn(benchmark::State& state) {
  // range(0): 0 = blocked GEMM with kThreads, 1 = naive loop, 2 = blocked GEMM on 1 thread
  // (the fair single-core comparison on a loaded machine).
  const bool naive = state.range(0) == 1;
  const int k = static_cast<int>(state.range(1));
  const PixelProblem p(k);
  KnnOptions options;
  options.num_threads = state.range(0) == 2 ? 1 : kThreads;
  KnnResult result;
  for (auto _ : state) {
    result = naive ? NaiveKnn(p.query.data(), p.nq, p.gallery.data(), p.ng, p.dim, 1)
                   : ExactKnn(p.query.data(), p.nq, p.gallery.data(), p.ng, p.dim, 1, options);
    benchmark::DoNotOptimize(result.distances.data());
  }
  // Sanity: both implementations agree on a sample of queries.
  const KnnResult check = NaiveKnn(p.query.data(), 64, p.gallery.data(), p.ng, p.dim, 1);
  for (int i = 0; i < 64; ++i) {
    if (check.indices[i] != result.indices[i]) state.SkipWithError("kNN mismatch vs naive loop");
  }
  state.SetLabel(naive ? "naive loop"
                       : fmt::format("blocked GEMM, {} thread(s)", options.num_threads));
  state.counters["gallery_pixels"] = static_cast<double>(p.ng);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * p.nq * p.ng * p.dim, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::OneK::kIs1000);
}
BENCHMARK(BM_PixelKnn)
    ->ArgsProduct({{0}, {1, 5, 10, 20}})
    ->Args({2, 5})
    ->Args({1, 5})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(0.5);

// Whole scoring of one image for growing K, on a 60-image bank.
void BM_SpadeScore(benchmark::State& state) {
  if (!fs::exists(Model())) return state.SkipWithError("fixture model missing");
  static Backbone* backbone = new Backbone(FixtureBackbone());
  static const MemoryBank* bank = new MemoryBank(
      FitMemoryBank(*backbone, Detector(5),
                    vigil::spade::ListTrainImages(Brick() / "train" / "good"), false, nullptr));
  const int k = static_cast<int>(state.range(0));
  const auto detector = AnomalyDetector::Create(Detector(k));
  const BackboneOutput query =
      backbone->Run(vigil::io::ReadImage(TestImages(1)[0]), "benchmark query");
  for (auto _ : state) {
    const AnomalyResult r = detector->Score(query, *bank);
    if (!std::isfinite(r.image_score)) state.SkipWithError("non-finite score");
    benchmark::DoNotOptimize(r.image_score);
  }
}
BENCHMARK(BM_SpadeScore)
    ->Arg(1)
    ->Arg(5)
    ->Arg(10)
    ->Arg(20)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Fit time and bank size as the gallery grows.
void BM_SpadeFit(benchmark::State& state) {
  if (!fs::exists(Model())) return state.SkipWithError("fixture model missing");
  auto train = vigil::spade::ListTrainImages(Brick() / "train" / "good");
  train.resize(static_cast<size_t>(state.range(0)));
  Backbone backbone(FixtureBackbone());
  double bank_mib = 0;
  for (auto _ : state) {
    const MemoryBank bank = FitMemoryBank(backbone, Detector(5), train, false, nullptr);
    size_t floats = 0;
    for (const auto& a : bank.arrays) floats += a.data.size();
    bank_mib = static_cast<double>(floats) * 4 / (1 << 20);
  }
  state.counters["bank_MiB"] = bank_mib;
}
BENCHMARK(BM_SpadeFit)
    ->Arg(15)
    ->Arg(30)
    ->Arg(60)
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
