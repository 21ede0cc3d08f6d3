// PatchCore (see detector.h for the algorithm and the reference it follows).
#include "vigil/spade/patchcore.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "vigil/spade/coreset.h"
#include "vigil/util/check.h"
#include "vigil/util/options_fields.h"

namespace vigil::spade {
namespace {

constexpr const char* kBankArray = "patchcore:bank";

// 3x3 mean over each pixel's neighbourhood, zeros outside (torch AvgPool2d(3, 1, 1) with its
// default count_include_pad = True), on a pixel-major map.
std::vector<float> LocalAverage3x3(const FeatureMap& m) {
  std::vector<float> out(m.data.size(), 0.f);
  const int c = m.channels;
  for (int y = 0; y < m.height; ++y) {
    for (int x = 0; x < m.width; ++x) {
      float* o = out.data() + (static_cast<size_t>(y) * m.width + x) * c;
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= m.height || xx < 0 || xx >= m.width) continue;
          const float* p = m.pixel(yy, xx);
          for (int ch = 0; ch < c; ++ch) o[ch] += p[ch];
        }
      }
      for (int ch = 0; ch < c; ++ch) o[ch] *= 1.f / 9.f;
    }
  }
  return out;
}

class PatchCoreDetector : public AnomalyDetector {
 public:
  explicit PatchCoreDetector(const AnomalyDetectorOptions& options) : options_(options) {}

  void Fit(std::vector<BackboneOutput> train, MemoryBank& bank,
           const CancelToken* cancel) const override {
    VIGIL_CHECK(!train.empty(), "PatchCore fit: no train images");
    const std::vector<int> layers = ResolveLayers(train[0].pyramid.size());
    int height = 0, width = 0, dim = 0;
    std::vector<float> all;
    for (BackboneOutput& out : train) {
      if (cancel != nullptr) cancel->ThrowIfCancelled();
      const std::vector<float> e = Embed(out, layers, &height, &width, &dim);
      all.insert(all.end(), e.begin(), e.end());
      out = BackboneOutput();
    }
    const int64_t n = static_cast<int64_t>(all.size()) / dim;
    const auto count = std::max<int64_t>(
        1, static_cast<int64_t>(std::llround(options_.patchcore.coreset_ratio * n)));
    CoresetOptions coreset;
    coreset.projection_dim = options_.patchcore.projection_dim;
    coreset.seed = options_.patchcore.seed;
    coreset.num_threads = options_.knn.num_threads;
    coreset.show_progress = options_.patchcore.show_progress;
    const std::vector<int64_t> selected = GreedyCoreset(all.data(), n, dim, count, coreset, cancel);
    BankArray& out = bank.Add(kBankArray, {count, dim});
    for (int64_t i = 0; i < count; ++i) {
      std::copy(all.begin() + selected[i] * dim, all.begin() + (selected[i] + 1) * dim,
                out.data.begin() + i * dim);
    }
    bank.method_options = OptionsToJson(options_.patchcore);
    bank.method_options["layers"] = layers;  // resolved: what Score must use
    bank.method_options["train_patches"] = n;
    bank.method_options["patch_grid"] = {height, width};
  }

  AnomalyResult Score(const BackboneOutput& query, const MemoryBank& bank) const override {
    const BankArray& memory = bank.Get(kBankArray);
    std::vector<int> layers = ResolveLayers(query.pyramid.size());
    if (bank.method_options.contains("layers")) {
      layers = bank.method_options.at("layers").get<std::vector<int>>();  // fit-time choice
    }
    int height = 0, width = 0, dim = 0;
    const std::vector<float> e = Embed(query, layers, &height, &width, &dim);
    VIGIL_CHECK(memory.shape.size() == 2 && memory.shape[1] == dim,
                "PatchCore score: patch features have {} dimensions, the bank {}", dim,
                memory.shape.size() == 2 ? memory.shape[1] : -1);
    const int64_t m = memory.shape[0];
    const int64_t patches = static_cast<int64_t>(height) * width;
    const KnnResult nearest =
        ExactKnn(e.data(), patches, memory.data.data(), m, dim, 1, options_.knn);

    // Image score: the most anomalous patch, reweighted by how isolated its nearest bank entry
    // is (paper eq. 7; anomalib's compute_anomaly_score).
    const auto worst =
        static_cast<int64_t>(std::max_element(nearest.distances.begin(), nearest.distances.end()) -
                             nearest.distances.begin());
    const float max_score = nearest.distances[worst];
    const float* bank_entry =
        memory.data.data() + static_cast<int64_t>(nearest.indices[worst]) * dim;
    const int b = static_cast<int>(std::min<int64_t>(options_.patchcore.reweight_neighbours, m));
    const KnnResult support = ExactKnn(bank_entry, 1, memory.data.data(), m, dim, b, options_.knn);
    // The support set starts with the bank entry itself (distance 0 to itself); its distance to
    // the query patch is the max score.
    std::vector<double> d(b);
    for (int j = 0; j < b; ++j) {
      d[j] = L2Distance(e.data() + worst * dim,
                        memory.data.data() + static_cast<int64_t>(support.indices[j]) * dim, dim);
    }
    const double d_max = *std::max_element(d.begin(), d.end());
    double denominator = 0;
    for (double v : d) denominator += std::exp(v - d_max);
    // b = 1 means no reweighting (anomalib does the same; the formula would give 0).
    const double weight = b == 1 ? 1.0 : 1.0 - std::exp(d[0] - d_max) / denominator;
    AnomalyResult result;
    result.image_score = static_cast<float>(weight * max_score);

    const int out_h = bank.preprocessing.input_height, out_w = bank.preprocessing.input_width;
    const std::vector<float> up =
        ResizeBilinear(nearest.distances.data(), height, width, 1, out_h, out_w);
    result.score_map = cv::Mat(out_h, out_w, CV_32F);
    std::copy(up.begin(), up.end(), result.score_map.ptr<float>());
    GaussianSmooth(result.score_map, options_.patchcore.sigma);
    return result;
  }

 private:
  std::vector<int> ResolveLayers(size_t num_taps) const {
    std::vector<int> layers = options_.patchcore.layers;
    if (layers.size() == 1 && layers[0] == -1) {
      layers.clear();
      for (size_t l = num_taps > 1 ? 1 : 0; l < num_taps; ++l)
        layers.push_back(static_cast<int>(l));
    }
    for (int l : layers) {
      VIGIL_CHECK(l >= 0 && static_cast<size_t>(l) < num_taps,
                  "option patchcore.layers: tap index {} out of range (the backbone has {} "
                  "pyramid taps)",
                  l, num_taps);
    }
    return layers;
  }

  // Locally aware patch features on the first chosen layer's grid, pixel-major.
  static std::vector<float> Embed(const BackboneOutput& out, const std::vector<int>& layers,
                                  int* height, int* width, int* dim) {
    const FeatureMap& first = out.pyramid.at(layers[0]);
    const int h = first.height, w = first.width;
    int total = 0;
    for (int l : layers) total += out.pyramid.at(l).channels;
    std::vector<float> e(static_cast<size_t>(h) * w * total);
    int offset = 0;
    for (int l : layers) {
      const FeatureMap& m = out.pyramid[l];
      const std::vector<float> pooled = LocalAverage3x3(m);
      const std::vector<float> up =
          ResizeBilinear(pooled.data(), m.height, m.width, m.channels, h, w);
      for (size_t p = 0; p < static_cast<size_t>(h) * w; ++p) {
        std::copy(up.begin() + p * m.channels, up.begin() + (p + 1) * m.channels,
                  e.begin() + p * total + offset);
      }
      offset += m.channels;
    }
    *height = h;
    *width = w;
    *dim = total;
    return e;
  }

  AnomalyDetectorOptions options_;
};

}  // namespace

void PatchCoreOptions::Check() const {
  VIGIL_CHECK_OPTION(!layers.empty(), "patchcore.layers", "needs at least one tap index");
  VIGIL_CHECK_OPTION(coreset_ratio > 0 && coreset_ratio <= 1, "patchcore.coreset_ratio",
                     "must be in (0, 1]");
  VIGIL_CHECK_OPTION(projection_dim >= 0, "patchcore.projection_dim", "must be >= 0");
  VIGIL_CHECK_OPTION(reweight_neighbours >= 1, "patchcore.reweight_neighbours", "must be >= 1");
  VIGIL_CHECK_OPTION(sigma >= 0, "patchcore.sigma", "must be >= 0");
}

std::unique_ptr<AnomalyDetector> MakePatchCoreDetector(const AnomalyDetectorOptions& options) {
  return std::make_unique<PatchCoreDetector>(options);
}

}  // namespace vigil::spade
