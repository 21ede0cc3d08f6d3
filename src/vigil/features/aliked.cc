// ALIKED inference on the CPU, reading the authors' released state_dicts
// (https://github.com/Shiaoming/ALIKED, models/aliked-{t16,n16,n16rot,n32}.pth, BSD-3).
//
// The network (nets/aliked.py): a 4-block encoder (ConvBlock, then ResBlocks; blocks 3 and 4 use
// deformable 3x3 convolutions) with SELU gates and batch norm, feature aggregation (1x1 convs to
// dim/4 channels per scale, bilinear upsampling with align_corners=True, concatenation), a score
// head (1x1 + three 3x3 convs, sigmoid), DKD detection and the SDDH descriptor head.
//
// Two reformulations keep it fast and small without changing the result beyond float rounding
// (the fixture tests in aliked_test.cc hold it to the authors' outputs):
//   * the score head's first 1x1 conv is linear and so is upsampling, so W * up(x) = up(W * x):
//     it runs on each scale before upsampling (8 channels upsampled instead of 3 * dim/4);
//   * the dense feature map (dim x H x W, L2-normalised per pixel) is never materialised: the
//     descriptor head evaluates it only at the pixels it reads (patches and bilinear corners).
#include "vigil/features/aliked.h"

#include <array>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "vigil/features/aliked_ops.h"
#include "vigil/io/torch_checkpoint.h"
#include "vigil/nn/conv.h"
#include "vigil/nn/gemm.h"
#include "vigil/nn/ops.h"
#include "vigil/nn/parallel.h"
#include "vigil/util/check.h"
#include "vigil/util/model_path.h"

namespace vigil {
namespace {

using nn::Activation;
using nn::Conv2dLayer;

// The authors' configuration table (ALIKED_CFGS in nets/aliked.py).
struct AlikedConfig {
  int c1, c2, c3, c4, dim, kernel, num_samples;
};

AlikedConfig ConfigFor(const std::string& model) {
  if (model == "aliked-t16") return {8, 16, 32, 64, 64, 3, 16};
  if (model == "aliked-n16" || model == "aliked-n16rot") return {16, 32, 64, 128, 128, 3, 16};
  if (model == "aliked-n32") return {16, 32, 64, 128, 128, 3, 32};
  ThrowError(fmt::format("aliked: unknown model '{}'", model));
}

// A stride-1 conv with "same" padding (k / 2), as every conv of ALIKED's dense part is.
Conv2dLayer LoadConv(const io::StateDict& sd, const std::string& name, int cout, int cin, int k,
                     bool has_bias, Activation act = Activation::kNone) {
  Conv2dLayer conv;
  conv.weight = sd.Get(name + ".weight", {cout, cin, k, k});
  if (has_bias) conv.bias = sd.Get(name + ".bias", {cout});
  conv.params = nn::Conv2dParams::Make(1, k / 2, 1, 1, act);
  return conv;
}

// conv + SELU into `y` (reused between images): the layer itself has no activation because
// nn's fused one runs on one thread.
void ConvSelu(const Conv2dLayer& conv, const nn::Tensor& x, int threads, nn::Tensor& y) {
  // Few-channel 3x3 convs (block1 of t16, the score head) run faster directly than as skinny GEMMs.
  const bool small = conv.weight.size(2) == 3 && conv.weight.size(0) * conv.weight.size(1) <= 64;
  if (small) {
    aliked::Conv3x3Direct(x, conv, threads, y);
  } else {
    conv.Forward(x, y);
  }
  aliked::SeluInPlace(y, threads);
}

nn::Tensor ConvSelu(const Conv2dLayer& conv, const nn::Tensor& x, int threads) {
  nn::Tensor y;
  ConvSelu(conv, x, threads, y);
  return y;
}

void FoldBn(const io::StateDict& sd, const std::string& name, Conv2dLayer& conv) {
  const int64_t c = conv.weight.size(0);
  conv.FoldBatchNorm(sd.Get(name + ".weight", {c}), sd.Get(name + ".bias", {c}),
                     sd.Get(name + ".running_mean", {c}), sd.Get(name + ".running_var", {c}));
}

// One encoder block: conv1 -> bn1 -> selu -> conv2 -> bn2 (+ 1x1 downsample) -> selu.
struct Block {
  bool deformable = false;
  bool residual = false;
  Conv2dLayer conv1, conv2, offset1, offset2, downsample;
};

Block LoadBlock(const io::StateDict& sd, const std::string& name, int cin, int cout,
                bool deformable, bool residual) {
  Block b;
  b.deformable = deformable;
  b.residual = residual;
  const std::string c1 = name + ".conv1", c2 = name + ".conv2";
  if (deformable) {
    b.conv1 = LoadConv(sd, c1 + ".regular_conv", cout, cin, 3, false);
    b.offset1 = LoadConv(sd, c1 + ".offset_conv", 18, cin, 3, true);
    b.conv2 = LoadConv(sd, c2 + ".regular_conv", cout, cout, 3, false);
    b.offset2 = LoadConv(sd, c2 + ".offset_conv", 18, cout, 3, true);
  } else {
    b.conv1 = LoadConv(sd, c1, cout, cin, 3, false);
    b.conv2 = LoadConv(sd, c2, cout, cout, 3, false);
  }
  FoldBn(sd, name + ".bn1", b.conv1);
  FoldBn(sd, name + ".bn2", b.conv2);
  if (residual) b.downsample = LoadConv(sd, name + ".downsample", cout, cin, 1, true);
  return b;
}

// Runs a block into `out`; `mid` holds the intermediate activation (both reused between images).
void RunBlock(const Block& b, const nn::Tensor& x, int threads, nn::Tensor& mid, nn::Tensor& out) {
  const int h = static_cast<int>(x.size(-2)), w = static_cast<int>(x.size(-1));
  nn::Tensor identity;
  if (b.residual) identity = b.downsample.Forward(x);
  if (b.deformable) {
    // DeformableConv2d clamps offsets to a quarter of its input's larger side.
    const float max_offset = static_cast<float>(std::max(h, w)) / 4.f;
    mid = aliked::DeformConv2d(x, b.offset1, max_offset, b.conv1, Activation::kSELU, nullptr,
                               threads);
    out = aliked::DeformConv2d(mid, b.offset2, max_offset, b.conv2, Activation::kSELU,
                               b.residual ? &identity : nullptr, threads);
    return;
  }
  ConvSelu(b.conv1, x, threads, mid);
  if (b.residual) {
    b.conv2.Forward(mid, out);
    for (int64_t i = 0; i < out.numel(); ++i) out.data[i] += identity.data[i];
    aliked::SeluInPlace(out, threads);
  } else {
    ConvSelu(b.conv2, mid, threads, out);
  }
}

nn::Tensor RunBlock(const Block& b, const nn::Tensor& x, int threads) {
  nn::Tensor mid, out;
  RunBlock(b, x, threads, mid, out);
  return out;
}

// A map stored pixel-major (h x w x c, so one pixel's channels are contiguous), upsampled lazily
// to (oh x ow) with align_corners=True.
struct UpsampledMap {
  std::vector<float> hwc;
  int c = 0, h = 0, w = 0;
  aliked::UpsampleAxis ys, xs;
  UpsampledMap(const nn::Tensor& chw, int out_h, int out_w)
      : c(static_cast<int>(chw.size(-3))),
        h(static_cast<int>(chw.size(-2))),
        w(static_cast<int>(chw.size(-1))),
        ys(h, out_h),
        xs(w, out_w) {
    const int64_t hw = static_cast<int64_t>(h) * w;
    hwc.resize(static_cast<size_t>(hw * c));
    for (int ch = 0; ch < c; ++ch) {
      const float* src = chw.ptr() + ch * hw;
      for (int64_t p = 0; p < hw; ++p) hwc[p * c + ch] = src[p];
    }
  }
  // Channel values at output pixel (x, y), added to `out` when accumulate.
  void At(int x, int y, float* out, bool accumulate) const {
    const int64_t r0 = static_cast<int64_t>(ys.i0[y]) * w, r1 = static_cast<int64_t>(ys.i1[y]) * w;
    const float* p00 = hwc.data() + (r0 + xs.i0[x]) * c;
    const float* p01 = hwc.data() + (r0 + xs.i1[x]) * c;
    const float* p10 = hwc.data() + (r1 + xs.i0[x]) * c;
    const float* p11 = hwc.data() + (r1 + xs.i1[x]) * c;
    const float h0 = ys.l0[y], h1 = ys.l1[y], w0 = xs.l0[x], w1 = xs.l1[x];
    for (int ch = 0; ch < c; ++ch) {
      const float v = h0 * (w0 * p00[ch] + w1 * p01[ch]) + h1 * (w0 * p10[ch] + w1 * p11[ch]);
      out[ch] = accumulate ? out[ch] + v : v;
    }
  }
};

class AlikedExtractor : public FeatureExtractor {
 public:
  AlikedExtractor(const AlikedOptions& options, const io::StateDict& sd, int num_threads)
      : options_(options), num_threads_(num_threads) {
    options_.Check();
    VIGIL_CHECK_OPTION(num_threads >= 1, "num_threads", "must be >= 1");
    cfg_ = ConfigFor(options_.model);
    Load(sd);
  }

  std::string name() const override { return options_.model; }

  Features Extract(const cv::Mat& image) override;

 private:
  void Load(const io::StateDict& sd) {
    for (const char* key :
         {"block1.conv1.weight", "desc_head.agg_weights", "score_head.0.weight"}) {
      VIGIL_CHECK(sd.Contains(key),
                  "{}: not an ALIKED checkpoint (no tensor '{}'; expected the state_dict of the "
                  "authors' {}.pth)",
                  sd.source(), key, options_.model);
    }
    const AlikedConfig& c = cfg_;
    const int q = c.dim / 4;
    block1_ = LoadBlock(sd, "block1", 3, c.c1, false, false);
    block2_ = LoadBlock(sd, "block2", c.c1, c.c2, false, true);
    block3_ = LoadBlock(sd, "block3", c.c2, c.c3, true, true);
    block4_ = LoadBlock(sd, "block4", c.c3, c.c4, true, true);
    conv_[0] = LoadConv(sd, "conv1", q, c.c1, 1, false);
    conv_[1] = LoadConv(sd, "conv2", q, c.c2, 1, false);
    conv_[2] = LoadConv(sd, "conv3", q, c.c3, 1, false);
    conv_[3] = LoadConv(sd, "conv4", q, c.dim, 1, false);
    // score_head.0 (8 x dim) split by input scale: columns [i*q, (i+1)*q) act on scale i.
    const nn::Tensor& s0 = sd.Get("score_head.0.weight", {8, c.dim, 1, 1});
    for (int i = 0; i < 4; ++i) {
      Conv2dLayer& part = score0_[i];
      part.weight = nn::Tensor({8, q, 1, 1});
      for (int o = 0; o < 8; ++o) {
        for (int j = 0; j < q; ++j) part.weight.data[o * q + j] = s0.data[o * c.dim + i * q + j];
      }
      part.params = nn::Conv2dParams::Make(1, 0);
    }
    score1_ = LoadConv(sd, "score_head.2", 4, 8, 3, false);
    score2_ = LoadConv(sd, "score_head.4", 4, 4, 3, false);
    score3_ = LoadConv(sd, "score_head.6", 1, 4, 3, false, Activation::kSigmoid);
    const int m2 = 2 * c.num_samples;
    sddh_.dim = c.dim;
    sddh_.kernel = c.kernel;
    sddh_.num_samples = c.num_samples;
    sddh_.offset0_weight =
        sd.Get("desc_head.offset_conv.0.weight", {m2, c.dim, c.kernel, c.kernel});
    sddh_.offset0_bias = sd.Get("desc_head.offset_conv.0.bias", {m2});
    sddh_.offset1_weight = sd.Get("desc_head.offset_conv.2.weight", {m2, m2, 1, 1});
    sddh_.offset1_bias = sd.Get("desc_head.offset_conv.2.bias", {m2});
    sddh_.sf_conv = sd.Get("desc_head.sf_conv.weight", {c.dim, c.dim, 1, 1});
    sddh_.agg = sd.Get("desc_head.agg_weights", {c.num_samples, c.dim, c.dim});
  }

  AlikedOptions options_;
  int num_threads_ = 1;
  AlikedConfig cfg_{};
  Block block1_, block2_, block3_, block4_;
  std::array<Conv2dLayer, 4> conv_;    // per-scale aggregation convs (+ SELU)
  std::array<Conv2dLayer, 4> score0_;  // score_head.0 split by scale
  Conv2dLayer score1_, score2_, score3_;
  aliked::SddhWeights sddh_;

  // Full-resolution activations, reused between images (Extract is not thread-safe: use one
  // extractor per thread).
  struct Workspace {
    nn::Tensor input, mid, x1, s0;
    std::vector<float> g1_hwc;
  } ws_;
};

Features AlikedExtractor::Extract(const cv::Mat& image) {
  VIGIL_CHECK(!image.empty(), "aliked: empty image");
  VIGIL_CHECK(image.depth() == CV_8U &&
                  (image.channels() == 1 || image.channels() == 3 || image.channels() == 4),
              "aliked: expected an 8-bit gray, BGR or BGRA image, got type {}", image.type());
  const int threads = num_threads_;
  nn::SetNumThreads(threads);
  cv::Mat rgb;
  if (image.channels() == 1) {
    cv::cvtColor(image, rgb, cv::COLOR_GRAY2RGB);  // as LightGlue's grayscale_to_rgb
  } else if (image.channels() == 4) {
    cv::cvtColor(image, rgb, cv::COLOR_BGRA2RGB);
  } else {
    cv::cvtColor(image, rgb, cv::COLOR_BGR2RGB);
  }
  const int h = rgb.rows, w = rgb.cols;

  // InputPadder: replicate-pad to a multiple of 32, split evenly (extra pixel at bottom/right).
  const int pad_h = ((h / 32 + 1) * 32 - h) % 32, pad_w = ((w / 32 + 1) * 32 - w) % 32;
  const int top = pad_h / 2, left = pad_w / 2;
  const int H = h + pad_h, W = w + pad_w;
  const int64_t HW = static_cast<int64_t>(H) * W;
  // Full-resolution activations live in ws_ and keep their memory from one image to the next:
  // fresh ~100 MB per image would be page-faulted and zeroed every time.
  nn::Tensor& input = ws_.input;
  input.Resize({3, H, W});
  for (int y = 0; y < H; ++y) {
    const uint8_t* row = rgb.ptr<uint8_t>(std::clamp(y - top, 0, h - 1));
    for (int x = 0; x < W; ++x) {
      const int sx = std::clamp(x - left, 0, w - 1);
      for (int ch = 0; ch < 3; ++ch) {
        input.data[ch * HW + static_cast<int64_t>(y) * W + x] = row[3 * sx + ch] / 255.f;
      }
    }
  }

  // Encoder.
  const AlikedConfig& c = cfg_;
  const int q = c.dim / 4;
  std::array<nn::Tensor, 4> x;
  RunBlock(block1_, input, threads, ws_.mid, ws_.x1);
  const nn::Tensor& x1 = ws_.x1;
  x[1] = RunBlock(block2_, nn::AvgPool2d(x1, 2, 2), threads);
  x[2] = RunBlock(block3_, nn::AvgPool2d(x[1], 4, 4), threads);
  x[3] = RunBlock(block4_, nn::AvgPool2d(x[2], 4, 4), threads);

  // Aggregation: per-scale 1x1 conv + SELU (g[i] at scale 1, 1/2, 1/8, 1/32), and score_head.0
  // applied per scale (t[i]).
  // At full resolution both 1x1 convs run fused, and g[0] is kept pixel-major (g1_hwc).
  std::array<nn::Tensor, 4> g, t;
  std::vector<float>& g1_hwc = ws_.g1_hwc;
  g1_hwc.resize(static_cast<size_t>(HW) * q);
  nn::Tensor& s0 = ws_.s0;
  s0.Resize({8, H, W});
  aliked::FusedPointwiseSelu(x1.ptr(), HW, c.c1, conv_[0].weight.ptr(), q, score0_[0].weight.ptr(),
                             8, g1_hwc.data(), s0.ptr(), threads);
  for (int i = 1; i < 4; ++i) {
    g[i] = ConvSelu(conv_[i], x[i], threads);
    x[i] = {};
    t[i] = score0_[i].Forward(g[i]);
  }

  // Score head: selu(t1 + up2(t2) + up8(t3) + up32(t4)), then three 3x3 convs and a sigmoid.
  std::vector<UpsampledMap> up_t;
  for (int i = 1; i < 4; ++i) {
    up_t.emplace_back(t[i], H, W);
  }
  nn::ParallelFor(H, threads, [&](int64_t y0, int64_t y1) {
    for (int64_t y = y0; y < y1; ++y) {
      for (int xx = 0; xx < W; ++xx) {
        const int64_t pix = y * W + xx;
        float sum[8];
        for (int ch = 0; ch < 8; ++ch) sum[ch] = s0.data[ch * HW + pix];
        for (const UpsampledMap& up : up_t) up.At(xx, static_cast<int>(y), sum, true);
        for (int ch = 0; ch < 8; ++ch) s0.data[ch * HW + pix] = sum[ch];
      }
    }
  });
  aliked::SeluInPlace(s0, threads);
  // The block1 buffers are free now: the score head's activations reuse them.
  ConvSelu(score1_, s0, threads, ws_.mid);
  ConvSelu(score2_, ws_.mid, threads, ws_.input);
  aliked::Conv3x3Direct(ws_.input, score3_, threads, ws_.x1);
  const nn::Tensor& score_padded = ws_.x1;

  // Unpad and detect.
  std::vector<float> score(static_cast<size_t>(h) * w);
  for (int y = 0; y < h; ++y) {
    std::copy_n(score_padded.ptr() + static_cast<int64_t>(y + top) * W + left, w,
                score.data() + static_cast<int64_t>(y) * w);
  }
  aliked::DkdOptions dkd;
  dkd.radius = options_.radius;
  dkd.top_k = options_.top_k;
  dkd.scores_th = options_.scores_th;
  dkd.n_limit = options_.n_limit;
  const aliked::DkdResult det = aliked::DetectKeypoints(score.data(), h, w, dkd);

  // Descriptors on the lazily evaluated, L2-normalised feature map.
  std::vector<UpsampledMap> up_g;
  for (int i = 1; i < 4; ++i) {
    up_g.emplace_back(g[i], H, W);
  }
  for (int i = 1; i < 4; ++i) g[i] = {};
  const float* g1 = g1_hwc.data();
  const aliked::FeatureLookup lookup = [&](int x, int y, float* out) {
    const int px = x + left, py = y + top;
    const int64_t pix = static_cast<int64_t>(py) * W + px;
    std::copy_n(g1 + pix * q, q, out);
    for (int i = 0; i < 3; ++i) up_g[i].At(px, py, out + (i + 1) * q, false);
    float sq = 0.f;
    for (int ch = 0; ch < c.dim; ++ch) sq += out[ch] * out[ch];
    const float inv = 1.f / std::max(std::sqrt(sq), 1e-12f);
    for (int ch = 0; ch < c.dim; ++ch) out[ch] *= inv;
  };
  const std::vector<float> desc = aliked::SddhDescriptors(lookup, h, w, det.xy, sddh_, threads);

  Features features;
  const int n = static_cast<int>(det.scores.size());
  features.keypoints.resize(n, 2);
  features.scores.resize(n);
  features.descriptors.resize(n, c.dim);
  for (int i = 0; i < n; ++i) {
    features.keypoints(i, 0) = det.xy[2 * i];
    features.keypoints(i, 1) = det.xy[2 * i + 1];
    features.scores(i) = det.scores[i];
  }
  std::copy(desc.begin(), desc.end(), features.descriptors.data());
  features.image_width = w;
  features.image_height = h;
  features.extractor = options_.model;
  return features;
}

}  // namespace

void AlikedOptions::Check() const {
  VIGIL_CHECK_OPTION(model == "aliked-t16" || model == "aliked-n16" || model == "aliked-n16rot" ||
                         model == "aliked-n32",
                     "aliked.model", "must be aliked-t16, aliked-n16, aliked-n16rot or aliked-n32");
  VIGIL_CHECK_OPTION(scores_th >= 0 && scores_th <= 1, "scores_th", "must be in [0, 1]");
  VIGIL_CHECK_OPTION(n_limit > 0, "n_limit", "must be > 0");
  VIGIL_CHECK_OPTION(radius >= 1, "radius", "must be >= 1");
}

void AlikedOptions::ApplyShared(const SharedExtractorSettings& settings) {
  if (settings.weights) weights = *settings.weights;
  if (settings.max_keypoints) top_k = *settings.max_keypoints;  // -1: threshold mode
  if (settings.keypoint_threshold) scores_th = *settings.keypoint_threshold;
  if (settings.nms_radius) radius = *settings.nms_radius;
}

std::unique_ptr<FeatureExtractor> CreateAlikedExtractor(const FeatureExtractorOptions& options) {
  const std::string& model = options.aliked.model;
  const ModelSpec spec{
      {"aliked/" + model + ".pth"},
      fmt::format("ALIKED weights ({})", model),
      "https://github.com/Shiaoming/ALIKED (models/" + model + ".pth, BSD-3-Clause)"};
  const std::filesystem::path path = FindModelFile(options.aliked.weights, spec);
  io::StateDict sd = io::LoadTorchCheckpoint(path);
  sd.StripPrefix("module.");
  auto extractor = CreateAlikedExtractorFromStateDict(options.aliked, sd, options.num_threads);
  extractor->set_model_files({path});
  return extractor;
}

std::unique_ptr<FeatureExtractor> CreateAlikedExtractorFromStateDict(
    const AlikedOptions& options, const io::StateDict& state_dict, int num_threads) {
  return std::make_unique<AlikedExtractor>(options, state_dict, num_threads);
}

}  // namespace vigil
