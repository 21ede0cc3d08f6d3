// SuperPoint inference on vigil's CPU core (nn/), following the SuperGlue authors' forward pass
// (models/superpoint.py) step by step; comments mark where the reference's conventions matter.
#include "vigil/features/superpoint.h"

#include <algorithm>
#include <array>
#include <numeric>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "vigil/io/torch_checkpoint.h"
#include "vigil/nn/conv.h"
#include "vigil/nn/gemm.h"
#include "vigil/nn/ops.h"
#include "vigil/util/check.h"
#include "vigil/util/model_path.h"

namespace vigil {
namespace {

constexpr int kCell = 8;               // the detector head predicts one 8x8 cell per output pixel
constexpr int kDescriptorDim = 256;

// Layer names of the official state_dict, their channel counts and kernel sizes.
struct LayerSpec {
  const char* name;
  int in, out, kernel;
};
constexpr std::array<LayerSpec, 12> kLayers = {{
    {"conv1a", 1, 64, 3},    {"conv1b", 64, 64, 3},   {"conv2a", 64, 64, 3},
    {"conv2b", 64, 64, 3},   {"conv3a", 64, 128, 3},  {"conv3b", 128, 128, 3},
    {"conv4a", 128, 128, 3}, {"conv4b", 128, 128, 3}, {"convPa", 128, 256, 3},
    {"convPb", 256, 65, 1},  {"convDa", 128, 256, 3}, {"convDb", 256, kDescriptorDim, 1},
}};
enum LayerIndex { kConv1a, kConv1b, kConv2a, kConv2b, kConv3a, kConv3b, kConv4a, kConv4b,
                  kConvPa, kConvPb, kConvDa, kConvDb };

ModelSpec SuperPointModelSpec() {
  return {{"superpoint/superpoint_v1.pth", "superpoint/superpoint_v1_from_fp16.pth"},
          "SuperPoint weights",
          "https://github.com/magicleap/SuperGluePretrainedNetwork "
          "(models/weights/superpoint_v1.pth, non-commercial licence)"};
}

// torch's simple_nms: keeps a score only where it is the maximum of its (2r+1)^2 window, then
// twice re-admits maxima among the scores not suppressed by an already kept maximum.
void SimpleNms(nn::Tensor& scores, int radius) {
  if (radius == 0) return;  // a 1x1 window keeps every pixel
  const int k = 2 * radius + 1;
  const size_t n = scores.data.size();
  auto equal_to_pool = [&](const nn::Tensor& t) {
    const nn::Tensor pooled = nn::MaxPool2d(t, k, 1, radius);
    std::vector<uint8_t> mask(n);
    for (size_t i = 0; i < n; ++i) mask[i] = t.data[i] == pooled.data[i];
    return mask;
  };
  std::vector<uint8_t> max_mask = equal_to_pool(scores);
  nn::Tensor work(scores.shape);
  for (int iter = 0; iter < 2; ++iter) {
    for (size_t i = 0; i < n; ++i) work.data[i] = max_mask[i] ? 1.f : 0.f;
    const nn::Tensor supp = nn::MaxPool2d(work, k, 1, radius);  // > 0: near a kept maximum
    for (size_t i = 0; i < n; ++i) work.data[i] = supp.data[i] > 0.f ? 0.f : scores.data[i];
    const std::vector<uint8_t> new_max = equal_to_pool(work);
    for (size_t i = 0; i < n; ++i) max_mask[i] |= new_max[i] && !(supp.data[i] > 0.f);
  }
  for (size_t i = 0; i < n; ++i) {
    if (!max_mask[i]) scores.data[i] = 0.f;
  }
}

class SuperPointExtractor : public FeatureExtractor {
 public:
  explicit SuperPointExtractor(const FeatureExtractorOptions& options)
      : options_(options.superpoint), num_threads_(options.num_threads) {
    options_.Check();
    VIGIL_CHECK_OPTION(num_threads_ >= 1, "num_threads", "must be >= 1");
    const auto path = FindModelFile(options_.weights, SuperPointModelSpec());
    set_model_files({path});
    io::StateDict weights = io::LoadTorchCheckpoint(path);
    weights.StripPrefix("module.");  // checkpoints saved from DataParallel
    for (size_t i = 0; i < kLayers.size(); ++i) {
      const LayerSpec& spec = kLayers[i];
      const std::string name = spec.name;
      if (!weights.Contains(name + ".weight")) {
        ThrowError(fmt::format(
            "{}: not a SuperPoint checkpoint: missing tensor '{}.weight' (expected the state_dict "
            "of models/superpoint.py, keys conv1a.weight ... convDb.bias)",
            path.string(), name));
      }
      nn::Conv2dLayer& layer = layers_[i];
      layer.weight = weights.Get(name + ".weight", {spec.out, spec.in, spec.kernel, spec.kernel});
      layer.bias = weights.Get(name + ".bias", {spec.out});
      layer.params = nn::Conv2dParams::Make(1, spec.kernel / 2);
      layer.params.winograd_f4 = true;  // checked against the fixtures (superpoint_test.cc)
      // Every convolution but the two 1x1 heads is followed by a ReLU.
      if (i != kConvPb && i != kConvDb) layer.params.activation = nn::Activation::kReLU;
    }
  }

  std::string name() const override { return "superpoint"; }

  Features Extract(const cv::Mat& image) override {
    VIGIL_CHECK(!image.empty() && image.depth() == CV_8U &&
                    (image.channels() == 1 || image.channels() == 3 || image.channels() == 4),
                "superpoint: expected a non-empty 8-bit gray, BGR or BGRA image, got {}x{} with "
                "{} channels, depth {}",
                image.cols, image.rows, image.channels(), image.depth());
    VIGIL_CHECK(image.rows >= kCell && image.cols >= kCell,
                "superpoint: image {}x{} is smaller than one 8x8 cell", image.cols, image.rows);
    nn::SetNumThreads(num_threads_);

    // gray / 255, as the reference reads images (cv2.imread(..., IMREAD_GRAYSCALE)).
    cv::Mat gray = image;
    if (image.channels() == 3) cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
    if (image.channels() == 4) cv::cvtColor(image, gray, cv::COLOR_BGRA2GRAY);
    nn::Tensor& x = input_;
    x.Resize({1, 1, gray.rows, gray.cols});
    for (int r = 0; r < gray.rows; ++r) {
      const uint8_t* row = gray.ptr<uint8_t>(r);
      float* dst = x.ptr() + static_cast<int64_t>(r) * gray.cols;
      for (int c = 0; c < gray.cols; ++c) dst[c] = row[c] / 255.f;
    }

    // Shared encoder, ping-ponging between two activation buffers kept across calls. Max
    // pooling floors odd sizes, so, as in the reference, an image whose sides are not multiples
    // of 8 yields a floor(H/8) x floor(W/8) map: keypoints only come from the top-left
    // floor(H/8)*8 x floor(W/8)*8 region (the convolutions still see the whole image).
    nn::Tensor& a = buffer_a_;
    nn::Tensor& b = buffer_b_;
    layers_[kConv1a].Forward(x, a);
    layers_[kConv1b].Forward(a, b);
    nn::MaxPool2d(b, 2, 2, 0, a);
    layers_[kConv2a].Forward(a, b);
    layers_[kConv2b].Forward(b, a);
    nn::MaxPool2d(a, 2, 2, 0, b);
    layers_[kConv3a].Forward(b, a);
    layers_[kConv3b].Forward(a, b);
    nn::MaxPool2d(b, 2, 2, 0, a);
    layers_[kConv4a].Forward(a, b);
    nn::Tensor& features_map = x;  // the input is no longer needed
    layers_[kConv4b].Forward(b, features_map);
    const int64_t h = features_map.size(-2), w = features_map.size(-1);
    const int64_t height = h * kCell, width = w * kCell;

    // Detector head: softmax over 64 cell positions + dustbin, drop the dustbin, depth-to-space.
    layers_[kConvPa].Forward(features_map, a);
    nn::Tensor& logits = b;
    layers_[kConvPb].Forward(a, logits);
    nn::SoftmaxChannels(logits);
    logits.Resize({kCell * kCell, h, w});  // keeps the first 64 channels' values
    nn::Tensor scores = nn::PixelShuffle(logits, kCell);  // 1 x height x width
    SimpleNms(scores, options_.nms_radius);

    // Keypoints above threshold in row-major order (torch.nonzero), then remove_borders.
    const int border = options_.remove_borders;
    std::vector<int64_t> index;
    for (int64_t y = 0; y < height; ++y) {
      if (y < border || y >= height - border) continue;
      const float* row = scores.ptr() + y * width;
      for (int64_t xx = std::max<int64_t>(border, 0); xx < width - border; ++xx) {
        if (row[xx] > options_.keypoint_threshold) index.push_back(y * width + xx);
      }
    }
    // top_k_keypoints: torch.topk returns the k best sorted by decreasing score; when k covers
    // all, the row-major order is kept.
    if (options_.max_keypoints >= 0 && options_.max_keypoints < static_cast<int>(index.size())) {
      std::stable_sort(index.begin(), index.end(), [&](int64_t a, int64_t b) {
        return scores.data[a] > scores.data[b];
      });
      index.resize(options_.max_keypoints);
    }

    Features features;
    const int n = static_cast<int>(index.size());
    features.keypoints.resize(n, 2);
    features.scores.resize(n);
    for (int i = 0; i < n; ++i) {
      features.keypoints(i, 0) = static_cast<float>(index[i] % width);
      features.keypoints(i, 1) = static_cast<float>(index[i] / width);
      features.scores(i) = scores.data[index[i]];
    }
    features.image_width = image.cols;
    features.image_height = image.rows;
    features.extractor = "superpoint";

    // Descriptor head: dense L2-normalised descriptors, bilinearly sampled, normalised again.
    layers_[kConvDa].Forward(features_map, a);
    nn::Tensor& desc = b;
    layers_[kConvDb].Forward(a, desc);
    nn::L2NormalizeChannels(desc);
    // sample_descriptors: pixel p maps to (p - s/2 + 0.5) / (w*s - s/2 - 0.5) * 2 - 1 and is
    // sampled with align_corners=True: the reference passes it when `torch.__version__ >= '1.3'`,
    // which holds for torch 1.13 (its __version__ is a TorchVersion that compares as a version,
    // not as a string). The fixtures confirm it: align_corners=False is off by up to 0.1.
    std::vector<float> grid(static_cast<size_t>(2 * n));
    const float sx = static_cast<float>(w) * kCell - kCell / 2.f - 0.5f;
    const float sy = static_cast<float>(h) * kCell - kCell / 2.f - 0.5f;
    for (int i = 0; i < n; ++i) {
      grid[2 * i] = (features.keypoints(i, 0) - kCell / 2.f + 0.5f) / sx * 2.f - 1.f;
      grid[2 * i + 1] = (features.keypoints(i, 1) - kCell / 2.f + 0.5f) / sy * 2.f - 1.f;
    }
    const nn::Tensor sampled = nn::GridSampleBilinear(desc, grid.data(), n, true);  // 256 x n
    features.descriptors.resize(n, kDescriptorDim);
    for (int c = 0; c < kDescriptorDim; ++c) {
      for (int i = 0; i < n; ++i) features.descriptors(i, c) = sampled.data[c * n + i];
    }
    nn::L2NormalizeRows(features.descriptors.data(), n, kDescriptorDim);
    return features;
  }

 private:
  SuperPointOptions options_;
  int num_threads_;
  std::array<nn::Conv2dLayer, kLayers.size()> layers_;
  // Activations reused from call to call (Extract is not reentrant): fresh allocations of the
  // full-resolution maps (2 x 64 x H x W floats) cost more in page faults than their layers'
  // non-GEMM work.
  nn::Tensor input_, buffer_a_, buffer_b_;
};

}  // namespace

void SuperPointOptions::Check() const {
  VIGIL_CHECK_OPTION(nms_radius >= 0, "nms_radius", "must be >= 0");
  VIGIL_CHECK_OPTION(keypoint_threshold >= 0 && keypoint_threshold <= 1, "keypoint_threshold",
                     "must be in [0, 1]");
  VIGIL_CHECK_OPTION(max_keypoints == -1 || max_keypoints >= 0, "max_keypoints",
                     "must be -1 (all) or >= 0");
  VIGIL_CHECK_OPTION(remove_borders >= 0, "remove_borders", "must be >= 0");
}

void SuperPointOptions::ApplyShared(const SharedExtractorSettings& settings) {
  if (settings.weights) weights = *settings.weights;
  if (settings.max_keypoints) max_keypoints = *settings.max_keypoints;
  if (settings.keypoint_threshold) keypoint_threshold = *settings.keypoint_threshold;
  if (settings.nms_radius) nms_radius = *settings.nms_radius;
}

std::unique_ptr<FeatureExtractor> CreateSuperPointExtractor(const FeatureExtractorOptions& options) {
  return std::make_unique<SuperPointExtractor>(options);
}

}  // namespace vigil
