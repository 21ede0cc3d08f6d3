// SPADE (see detector.h for the exact algorithm and the reference it follows).
#include "vigil/spade/spade_detector.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "vigil/util/check.h"
#include "vigil/util/options_fields.h"

namespace vigil::spade {
namespace {

std::string PyramidArrayName(const std::string& tap) { return "pyramid:" + tap; }

class SpadeDetector : public AnomalyDetector {
 public:
  explicit SpadeDetector(const AnomalyDetectorOptions& options) : options_(options) {}

  void Fit(std::vector<BackboneOutput> train, MemoryBank& bank,
           const CancelToken* cancel) const override {
    VIGIL_CHECK(!train.empty(), "SPADE fit: no train images");
    const auto n = static_cast<int64_t>(train.size());
    const auto& taps = bank.preprocessing.pyramid_taps;
    VIGIL_CHECK(train[0].pyramid.size() == taps.size(), "SPADE fit: {} pyramid maps for {} taps",
                train[0].pyramid.size(), taps.size());
    // Add every array first: Add() may reallocate the list, so pointers are taken afterwards.
    const size_t first = bank.arrays.size();
    bank.Add("pool", {n, static_cast<int64_t>(train[0].pooled.size())});
    for (size_t l = 0; l < taps.size(); ++l) {
      const FeatureMap& m = train[0].pyramid[l];
      bank.Add(PyramidArrayName(taps[l]), {n, m.height, m.width, m.channels});
    }
    BankArray* pool_ptr = &bank.arrays[first];
    std::vector<BankArray*> layers;
    for (size_t l = 0; l < taps.size(); ++l) layers.push_back(&bank.arrays[first + 1 + l]);
    for (int64_t i = 0; i < n; ++i) {
      if (cancel != nullptr) cancel->ThrowIfCancelled();
      BackboneOutput& out = train[static_cast<size_t>(i)];
      VIGIL_CHECK(static_cast<int64_t>(out.pooled.size()) * n ==
                      static_cast<int64_t>(pool_ptr->data.size()),
                  "SPADE fit: train image {} has a different pooled size", i);
      std::copy(out.pooled.begin(), out.pooled.end(),
                pool_ptr->data.begin() + i * static_cast<int64_t>(out.pooled.size()));
      for (size_t l = 0; l < taps.size(); ++l) {
        const std::vector<float>& d = out.pyramid[l].data;
        VIGIL_CHECK(
            static_cast<int64_t>(d.size()) * n == static_cast<int64_t>(layers[l]->data.size()),
            "SPADE fit: train image {} has a different '{}' shape", i, taps[l]);
        std::copy(d.begin(), d.end(), layers[l]->data.begin() + i * static_cast<int64_t>(d.size()));
      }
      out = BackboneOutput();  // release this image's features as soon as they are banked
    }
    bank.method_options = OptionsToJson(options_.spade);
  }

  AnomalyResult Score(const BackboneOutput& query, const MemoryBank& bank) const override {
    const SpadeOptions& o = options_.spade;
    const BankArray& pool = bank.Get("pool");
    const int64_t n = pool.shape[0], dim = pool.shape[1];
    VIGIL_CHECK(static_cast<int64_t>(query.pooled.size()) == dim,
                "SPADE score: pooled feature has {} values, the bank {}", query.pooled.size(), dim);
    VIGIL_CHECK(o.k <= n, "option spade.k = {} but the bank holds only {} train images", o.k, n);

    // Image level: K nearest train images on the pooled vector.
    std::vector<std::pair<float, int>> image_distances(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      image_distances[i] = {
          L2Distance(query.pooled.data(), pool.data.data() + i * dim, static_cast<int>(dim)),
          static_cast<int>(i)};
    }
    std::partial_sort(image_distances.begin(), image_distances.begin() + o.k,
                      image_distances.end());
    AnomalyResult result;
    float sum = 0;
    for (int j = 0; j < o.k; ++j) {
      sum += image_distances[j].first;
      result.neighbours.push_back(image_distances[j].second);
    }
    result.image_score = sum / static_cast<float>(o.k);

    // Pixel level against all pixel features of those K images.
    const auto& taps = bank.preprocessing.pyramid_taps;
    VIGIL_CHECK(query.pyramid.size() == taps.size(), "SPADE score: {} pyramid maps for {} taps",
                query.pyramid.size(), taps.size());
    const int out_h = bank.preprocessing.input_height, out_w = bank.preprocessing.input_width;
    std::vector<const BankArray*> arrays;
    for (size_t l = 0; l < taps.size(); ++l) {
      const BankArray& a = bank.Get(PyramidArrayName(taps[l]));
      const FeatureMap& q = query.pyramid[l];
      VIGIL_CHECK(a.shape.size() == 4 && a.shape[1] == q.height && a.shape[2] == q.width &&
                      a.shape[3] == q.channels,
                  "SPADE score: query tap '{}' is {}x{}x{}, the bank's is different", taps[l],
                  q.channels, q.height, q.width);
      arrays.push_back(&a);
    }
    std::vector<float> total(static_cast<size_t>(out_h) * out_w, 0.f);
    if (!o.concatenate_layers) {
      for (size_t l = 0; l < taps.size(); ++l) {
        const FeatureMap& q = query.pyramid[l];
        const size_t per_image = q.data.size();
        std::vector<float> gallery(per_image * o.k);
        for (int j = 0; j < o.k; ++j) {
          const float* src = arrays[l]->data.data() + result.neighbours[j] * per_image;
          std::copy(src, src + per_image, gallery.begin() + j * per_image);
        }
        const std::vector<float> map = PixelDistances(q.data, gallery, q.channels);
        const std::vector<float> up =
            ResizeBilinear(map.data(), q.height, q.width, 1, out_h, out_w);
        for (size_t p = 0; p < total.size(); ++p) total[p] += up[p];
      }
      for (float& v : total) v /= static_cast<float>(taps.size());
    } else {
      const int h0 = query.pyramid[0].height, w0 = query.pyramid[0].width;
      auto concatenated = [&](auto&& layer_data) {
        int dim_total = 0;
        for (const FeatureMap& m : query.pyramid) dim_total += m.channels;
        std::vector<float> out(static_cast<size_t>(h0) * w0 * dim_total);
        int offset = 0;
        for (size_t l = 0; l < taps.size(); ++l) {
          const FeatureMap& m = query.pyramid[l];
          const std::vector<float> up =
              ResizeBilinear(layer_data(l), m.height, m.width, m.channels, h0, w0);
          for (size_t p = 0; p < static_cast<size_t>(h0) * w0; ++p) {
            std::copy(up.begin() + p * m.channels, up.begin() + (p + 1) * m.channels,
                      out.begin() + p * dim_total + offset);
          }
          offset += m.channels;
        }
        return std::make_pair(std::move(out), dim_total);
      };
      const auto [q, dim_total] =
          concatenated([&](size_t l) { return query.pyramid[l].data.data(); });
      std::vector<float> gallery;
      for (int j = 0; j < o.k; ++j) {
        const auto g = concatenated([&](size_t l) {
          return arrays[l]->data.data() + result.neighbours[j] * query.pyramid[l].data.size();
        });
        gallery.insert(gallery.end(), g.first.begin(), g.first.end());
      }
      const std::vector<float> map = PixelDistances(q, gallery, dim_total);
      total = ResizeBilinear(map.data(), h0, w0, 1, out_h, out_w);
    }
    result.score_map = cv::Mat(out_h, out_w, CV_32F);
    std::copy(total.begin(), total.end(), result.score_map.ptr<float>());
    GaussianSmooth(result.score_map, o.sigma);
    return result;
  }

 private:
  // Mean distance of each query pixel to its kappa nearest gallery pixels.
  std::vector<float> PixelDistances(const std::vector<float>& query,
                                    const std::vector<float>& gallery, int channels) const {
    const int64_t nq = static_cast<int64_t>(query.size()) / channels;
    const int64_t ng = static_cast<int64_t>(gallery.size()) / channels;
    const int kappa = static_cast<int>(std::min<int64_t>(options_.spade.kappa, ng));
    const KnnResult knn =
        ExactKnn(query.data(), nq, gallery.data(), ng, channels, kappa, options_.knn);
    std::vector<float> map(static_cast<size_t>(nq));
    for (int64_t i = 0; i < nq; ++i) {
      float s = 0;
      for (int j = 0; j < kappa; ++j) s += knn.distances[i * kappa + j];
      map[i] = s / static_cast<float>(kappa);
    }
    return map;
  }

  AnomalyDetectorOptions options_;
};

}  // namespace

void SpadeOptions::Check() const {
  VIGIL_CHECK_OPTION(k >= 1, "spade.k", "must be >= 1");
  VIGIL_CHECK_OPTION(kappa >= 1, "spade.kappa", "must be >= 1");
  VIGIL_CHECK_OPTION(sigma >= 0, "spade.sigma", "must be >= 0");
}

std::unique_ptr<AnomalyDetector> MakeSpadeDetector(const AnomalyDetectorOptions& options) {
  return std::make_unique<SpadeDetector>(options);
}

}  // namespace vigil::spade
