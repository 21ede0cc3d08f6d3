// The operations ALIKED needs beyond a plain convolution stack (features/aliked.h):
//   * SELU, a direct 3x3 conv for few channels and a fused pair of 1x1 convs, for the
//     full-resolution layers where skinny GEMMs and per-element libm calls are slow;
//   * the deformable 3x3 convolution of the encoder's last two blocks (torchvision's
//     deform_conv2d: one (dy, dx) offset per tap and output pixel, bilinear sampling with zeros
//     outside the map, then a GEMM with the regular weights);
//   * DKD, the differentiable keypoint detector (ALIKE/ALIKED soft_detect.py): iterated NMS, top-k
//     or threshold selection, soft-argmax refinement within the NMS window, bilinear score;
//   * the SDDH descriptor head: per-keypoint offsets from a KxK patch, M deformable bilinear
//     samples per keypoint, a 1x1 conv and per-sample aggregation matrices, all as GEMMs over
//     the keypoints.
// Regular convolutions, activations and GEMMs come from the nn core (nn/conv.h, nn/gemm.h).
// Maps are C x H x W row-major float buffers (batch 1). Pixel centres are at integer
// coordinates, as in features/types.h.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "vigil/nn/conv.h"
#include "vigil/nn/ops.h"
#include "vigil/nn/tensor.h"

namespace vigil::aliked {

// SELU in place (torch.nn.SELU constants), with an inline exp the compiler vectorises (~1 ulp),
// split over threads: on full-resolution maps it is the costliest element-wise step of the
// network.
void SeluInPlace(float* data, int64_t count, int num_threads);
inline void SeluInPlace(nn::Tensor& t, int num_threads) {
  SeluInPlace(t.ptr(), t.numel(), num_threads);
}

// A 3x3 stride-1 convolution with zero padding 1 (torch semantics, bias optional), computed
// directly with the loops running along image rows. For the score head's 8 -> 4 -> 4 -> 1
// channel convs at full resolution this is several times faster than im2col + GEMM, whose
// 4-row GEMMs cannot use the machine.
nn::Tensor Conv3x3Direct(const nn::Tensor& x, const nn::Conv2dLayer& conv, int num_threads);
// Same, into `y` (reusing its allocation; `y` must not alias `x`).
void Conv3x3Direct(const nn::Tensor& x, const nn::Conv2dLayer& conv, int num_threads,
                   nn::Tensor& y);

// Two chained 1x1 convs without bias at full resolution, fused per tile of pixels:
// g = SELU(wg * x) (wg: q x cin) and t = wt * g (wt: m x q). x is cin x hw (channel-major).
// g comes out pixel-major (hw x q: what the descriptor head reads), t channel-major (m x hw).
// Skinny GEMMs (K = 8..32) run far below OpenBLAS's peak and the intermediate would cost two
// extra passes over memory; ALIKED's aggregation conv1 + score_head.0 is this shape.
void FusedPointwiseSelu(const float* x, int64_t hw, int cin, const float* wg, int q,
                        const float* wt, int m, float* g_hwc, float* t_chw, int num_threads);

// torchvision.ops.deform_conv2d with a 3x3 kernel, stride 1, padding 1, no mask, as ALIKED's
// DeformableConv2d runs it: offsets = offset_conv(x) (18 x h x w; channel 2t = dy and 2t+1 = dx of
// tap t = 3 * ky + kx), clamped to +-max_offset; each tap samples x bilinearly at
// (y - 1 + ky + dy, x - 1 + kx + dx), zeros outside; then a GEMM with conv's weights.
// Returns act(deform_conv(x) + conv.bias [+ residual]).
nn::Tensor DeformConv2d(const nn::Tensor& x, const nn::Conv2dLayer& offset_conv, float max_offset,
                        const nn::Conv2dLayer& conv, nn::Activation act, const nn::Tensor* residual,
                        int num_threads);

// k x k average pooling with stride k (h and w divisible by k).
void AvgPool(const float* in, int c, int h, int w, int k, float* out, int num_threads);

// Bilinear upsampling as torch.nn.Upsample(mode="bilinear", align_corners=True) computes it, in
// float: the source index of output row y is y * (in_h - 1) / (out_h - 1).
struct UpsampleAxis {
  std::vector<int> i0, i1;    // source indices per output index
  std::vector<float> l0, l1;  // their weights
  UpsampleAxis(int in_size, int out_size);
};

// DKD settings (ALIKED's defaults: radius 2, temperature 0.1).
struct DkdOptions {
  int radius = 2;          // NMS window radius and soft-argmax window radius, pixels
  int top_k = -1;          // > 0: keep the top_k; else threshold mode
  float scores_th = 0.2f;  // threshold mode: keep NMS maxima above this (if none: above the mean)
  int n_limit = 5000;      // threshold mode: at most this many, the best by score
  float temperature = 0.1f;
};

struct DkdResult {
  std::vector<float> xy;      // N x 2 keypoints (x, y) in pixels, sub-pixel
  std::vector<float> scores;  // N scores: the score map sampled bilinearly at the keypoint
};

// Detects keypoints on an h x w score map in [0, 1] (sigmoid output), as ALIKED's DKD does with
// sub_pixel=True. The order is the reference's: top-k by NMS score in top-k mode; raster order
// in threshold mode unless n_limit cut it, then by descending score. Unlike torch.topk, top-k
// mode returns fewer than top_k keypoints when the map has fewer local maxima (the reference
// would fill up with suppressed pixels), and maps no larger than the border give none.
DkdResult DetectKeypoints(const float* scores, int h, int w, const DkdOptions& options);

// The max-pool based NMS of SuperPoint/ALIKE (two suppression rounds), window 2 * radius + 1.
// Returns the scores of the kept maxima, 0 elsewhere.
std::vector<float> SimpleNms(const float* scores, int h, int w, int radius);

// Gives the L2-normalised dense feature vector (dim floats) at integer pixel (x, y), which is
// inside the map. ALIKED evaluates it lazily, only where the descriptor head looks.
using FeatureLookup = std::function<void(int x, int y, float* out)>;

struct SddhWeights {
  int dim = 0;                              // feature / descriptor dimension
  int kernel = 3;                           // K: offset-estimation patch size
  int num_samples = 16;                     // M: deformable sample positions per keypoint
  nn::Tensor offset0_weight, offset0_bias;  // 2M x dim x K x K, 2M (SELU after it)
  nn::Tensor offset1_weight, offset1_bias;  // 2M x 2M x 1 x 1, 2M
  nn::Tensor sf_conv;                       // dim x dim x 1 x 1 (no bias, SELU after it)
  nn::Tensor agg;                           // M x dim x dim, agg[p][c][d]
};

// SDDH on keypoints `xy` (N x 2, pixels) of an h x w feature map. Returns N x dim descriptors,
// L2-normalised.
std::vector<float> SddhDescriptors(const FeatureLookup& lookup, int h, int w,
                                   const std::vector<float>& xy, const SddhWeights& weights,
                                   int num_threads);

}  // namespace vigil::aliked
