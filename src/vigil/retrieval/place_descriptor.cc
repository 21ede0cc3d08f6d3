#include "vigil/retrieval/place_descriptor.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <opencv2/core.hpp>

#include "vigil/spade/backbone.h"
#include "vigil/util/check.h"
#include "vigil/util/model_path.h"

namespace vigil::retrieval {
namespace {

constexpr int kStride = 32;  // the backbone's deepest stride: input sides are multiples of it

// data[0..n) scaled to unit length; left as it is (all zero) when it has no energy.
void Normalise(std::vector<float>* v) {
  double sum_sq = 0;
  for (float x : *v) sum_sq += static_cast<double>(x) * x;
  if (sum_sq <= 0) return;
  const float factor = static_cast<float>(1 / std::sqrt(sum_sq));
  for (float& x : *v) x *= factor;
}

}  // namespace

void PlaceDescriptorOptions::Check() const {
  VIGIL_CHECK_OPTION(!tap.empty(), "place.tap", "must name a feature-map output of the model");
  VIGIL_CHECK_OPTION(gem_p >= 1 && gem_p <= 64 && std::isfinite(gem_p), "place.gem_p",
                     fmt::format("must be in [1, 64], got {}", gem_p));
  VIGIL_CHECK_OPTION(!scales.empty(), "place.scales", "needs at least one scale");
  for (double s : scales) {
    VIGIL_CHECK_OPTION(s > 0 && std::isfinite(s) && short_side * s >= kStride &&
                           short_side * s <= 4096,
                       "place.scales",
                       fmt::format("each scale times place.short_side ({}) must be in [{}, 4096] "
                                   "pixels, got scale {}",
                                   short_side, kStride, s));
  }
  VIGIL_CHECK_OPTION(short_side >= kStride && short_side <= 4096, "place.short_side",
                     fmt::format("must be in [{}, 4096] pixels, got {}", kStride, short_side));
  VIGIL_CHECK_OPTION(whitening == "pca" || whitening == "none", "place.whitening",
                     fmt::format("must be pca or none, got '{}'", whitening));
  VIGIL_CHECK_OPTION(whitening_shrinkage >= 0 && std::isfinite(whitening_shrinkage),
                     "place.whitening_shrinkage",
                     fmt::format("must be >= 0, got {}", whitening_shrinkage));
  VIGIL_CHECK_OPTION(num_threads >= 1, "place.num_threads",
                     fmt::format("must be >= 1, got {}", num_threads));
}

std::filesystem::path FindPlaceModel(const PlaceDescriptorOptions& options) {
  ModelSpec spec;
  spec.relative_paths = {"mobilenet_v2/mobilenet_v2_1.0_224_spade.onnx"};
  spec.description = "MobileNetV2 ONNX backbone (place descriptor)";
  spec.official_source = "../shared/models/mobilenet_v2 (see its README)";
  return FindModelFile(options.model, spec);
}

std::vector<float> GemPool(const float* data, size_t pixels, int channels, double p) {
  VIGIL_CHECK(pixels > 0 && channels > 0, "GeM pooling of an empty feature map");
  constexpr double kEps = 1e-6;
  std::vector<double> sum(channels, 0.0);
  const bool cube = p == 3.0;  // the default: a multiply instead of std::pow per value
  for (size_t i = 0; i < pixels; ++i) {
    const float* row = data + i * static_cast<size_t>(channels);
    for (int c = 0; c < channels; ++c) {
      const double x = std::max(static_cast<double>(row[c]), kEps);
      sum[c] += cube ? x * x * x : std::pow(x, p);
    }
  }
  std::vector<float> pooled(channels);
  for (int c = 0; c < channels; ++c) {
    pooled[c] = static_cast<float>(std::pow(sum[c] / static_cast<double>(pixels), 1 / p));
  }
  return pooled;
}

PcaWhitening PcaWhitening::Learn(const std::vector<std::vector<float>>& samples,
                                 double shrinkage) {
  PcaWhitening w;
  if (samples.size() < 3) return w;
  const int n = static_cast<int>(samples.size());
  const int d = static_cast<int>(samples[0].size());
  cv::Mat x(n, d, CV_64F);
  for (int i = 0; i < n; ++i) {
    VIGIL_CHECK(static_cast<int>(samples[i].size()) == d,
                "whitening: descriptor {} has {} values, the first {}", i, samples[i].size(), d);
    for (int c = 0; c < d; ++c) x.at<double>(i, c) = samples[i][c];
  }
  cv::Mat mean;
  cv::reduce(x, mean, 0, cv::REDUCE_AVG);
  for (int i = 0; i < n; ++i) x.row(i) -= mean;
  // Principal axes from the n x n Gram matrix when there are fewer samples than dimensions (a
  // short run): X^T X / n and X X^T / n share their non-zero eigenvalues, and an eigenvector v
  // of the latter gives the axis X^T v (normalised below). cv::eigen sorts them descending.
  cv::Mat lambda, vectors, axes;  // axes: one per row
  if (n < d) {
    cv::eigen(x * x.t() / n, lambda, vectors);
    axes = vectors * x;  // rows v_k^T X = (X^T v_k)^T
  } else {
    cv::eigen(x.t() * x / n, lambda, vectors);
    axes = vectors;
  }
  // Axes with a variance above rounding noise only (centring leaves at most n - 1).
  const double largest = lambda.at<double>(0);
  std::vector<int> kept;
  for (int k = 0; k < lambda.rows; ++k) {
    if (largest > 0 && lambda.at<double>(k) > 1e-9 * largest) kept.push_back(k);
  }
  if (kept.empty()) return w;
  double mean_lambda = 0;
  for (int k : kept) mean_lambda += lambda.at<double>(k) / static_cast<double>(kept.size());
  w.mean_.resize(d);
  for (int c = 0; c < d; ++c) w.mean_[c] = static_cast<float>(mean.at<double>(0, c));
  w.axes_.resize(kept.size() * static_cast<size_t>(d));
  for (size_t j = 0; j < kept.size(); ++j) {
    const cv::Mat axis = axes.row(kept[j]) / cv::norm(axes.row(kept[j]));
    for (int c = 0; c < d; ++c) w.axes_[j * d + c] = static_cast<float>(axis.at<double>(0, c));
    w.weights_.push_back(
        static_cast<float>(1 / std::sqrt(lambda.at<double>(kept[j]) + shrinkage * mean_lambda)));
  }
  return w;
}

std::vector<float> PcaWhitening::Apply(const std::vector<float>& descriptor) const {
  if (empty()) return descriptor;
  const size_t d = mean_.size();
  VIGIL_CHECK(descriptor.size() == d, "whitening: descriptor of {} values, learned on {}",
              descriptor.size(), d);
  std::vector<double> centred(d);
  for (size_t c = 0; c < d; ++c) centred[c] = descriptor[c] - mean_[c];
  std::vector<float> out(weights_.size());
  for (size_t j = 0; j < weights_.size(); ++j) {
    const float* axis = axes_.data() + j * d;
    double dot = 0;
    for (size_t c = 0; c < d; ++c) dot += axis[c] * centred[c];
    out[j] = static_cast<float>(dot * weights_[j]);
  }
  Normalise(&out);
  return out;
}

cv::Size PlaceInputSize(cv::Size image_size, int short_side) {
  VIGIL_CHECK(image_size.area() > 0 && short_side > 0, "PlaceInputSize: empty size");
  const double factor = static_cast<double>(short_side) / std::min(image_size.width, image_size.height);
  auto side = [&](int s) {
    return std::max(kStride, static_cast<int>(std::lround(s * factor / kStride)) * kStride);
  };
  return {side(image_size.width), side(image_size.height)};
}

PlaceDescriber::PlaceDescriber(const PlaceDescriptorOptions& options) : options_(options) {
  options_.Check();
  model_file_ = FindPlaceModel(options_);
  // Loaded once at the scale-1 size of a 4:3 frame to check the tap and learn its channels.
  const spade::Backbone& probe = BackboneFor(PlaceInputSize({640, 480}, options_.short_side));
  dim_ = probe.pyramid_shapes().front()[0];
}

PlaceDescriber::~PlaceDescriber() = default;
PlaceDescriber::PlaceDescriber(PlaceDescriber&&) noexcept = default;
PlaceDescriber& PlaceDescriber::operator=(PlaceDescriber&&) noexcept = default;

spade::Backbone& PlaceDescriber::BackboneFor(cv::Size input) {
  std::unique_ptr<spade::Backbone>& slot = backbones_[{input.width, input.height}];
  if (!slot) {
    spade::BackboneOptions b = spade::BackbonePreset("mobilenet-v2");
    b.model = model_file_.string();
    b.pyramid_taps = {options_.tap};
    // The pooled output is not used; naming the tap itself keeps the network from running
    // past it (OpenCV DNN computes up to the last layer asked for).
    b.pool_tap = options_.tap;
    b.input_width = input.width;
    b.input_height = input.height;
    b.num_threads = options_.num_threads;
    slot = std::make_unique<spade::Backbone>(b);
  }
  return *slot;
}

std::vector<float> PlaceDescriber::Describe(const cv::Mat& image, const std::string& source) {
  VIGIL_CHECK(!image.empty(), "{}: empty image", source);
  std::vector<float> total;
  for (double scale : options_.scales) {
    const int short_side = static_cast<int>(std::lround(options_.short_side * scale));
    spade::Backbone& backbone = BackboneFor(PlaceInputSize(image.size(), short_side));
    const spade::BackboneOutput out = backbone.Run(image, source);
    const spade::FeatureMap& map = out.pyramid.front();
    VIGIL_CHECK(map.channels == dim_, "{}: tap {} has {} channels at this size, {} before",
                model_file_.string(), options_.tap, map.channels, dim_);
    std::vector<float> pooled = GemPool(map.data.data(),
                                        static_cast<size_t>(map.height) * map.width,
                                        map.channels, options_.gem_p);
    Normalise(&pooled);
    if (total.empty()) {
      total = std::move(pooled);
    } else {
      for (size_t c = 0; c < total.size(); ++c) total[c] += pooled[c];
    }
  }
  Normalise(&total);
  return total;
}

}  // namespace vigil::retrieval
