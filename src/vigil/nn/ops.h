// Element-wise and layout operators of vigil's CPU inference core, each matching the PyTorch
// function named beside it (torch 1.13 semantics). Image tensors are C x H x W (3-D) or
// 1 x C x H x W (4-D, batch 1); outputs keep the input's rank. Every operator checks its input
// shape and throws vigil::Error naming the operator on a mismatch.
// Convolution is in conv.h, matrix products in gemm.h.
#pragma once

#include <cstdint>

#include "vigil/nn/tensor.h"

namespace vigil::nn {

// ---- activations (applied in place; also fused into Conv2d, see conv.h) ----
enum class Activation {
  kNone,
  kReLU,       // max(x, 0)
  kLeakyReLU,  // x >= 0 ? x : alpha * x (torch default alpha 0.01)
  kELU,        // x > 0 ? x : alpha * (exp(x) - 1) (alpha 1)
  kSELU,       // torch.nn.SELU: scale * (x > 0 ? x : 1.6732632 * (exp(x) - 1)), scale 1.0507010
  kSigmoid,    // 1 / (1 + exp(-x))
  kTanh,
  kGELU,       // exact (erf) form, torch default
  kSiLU,       // x * sigmoid(x)
};
void ApplyActivation(Activation act, float* data, int64_t count, float alpha = 0.01f);
inline void ApplyActivation(Activation act, Tensor& t, float alpha = 0.01f) {
  ApplyActivation(act, t.ptr(), t.numel(), alpha);
}

// ---- pooling (torch.nn.functional.max_pool2d / avg_pool2d; floor mode) ----
// Padding of max pooling counts as -inf; of average pooling as zeros, divided by the full
// kernel area when count_include_pad (torch default) else by the in-image count.
Tensor MaxPool2d(const Tensor& x, int kernel, int stride, int padding = 0);
// Same, into `out` (reusing its allocation; `out` must not alias `x`).
void MaxPool2d(const Tensor& x, int kernel, int stride, int padding, Tensor& out);
Tensor AvgPool2d(const Tensor& x, int kernel, int stride, int padding = 0,
                 bool count_include_pad = true);

// ---- layout ----
// torch.nn.functional.pixel_shuffle (depth-to-space): C*r*r x H x W -> C x H*r x W*r with
// out[c, h*r + i, w*r + j] = in[c*r*r + i*r + j, h, w].
Tensor PixelShuffle(const Tensor& x, int r);
// torch.nn.functional.pixel_unshuffle (space-to-depth), the inverse of PixelShuffle.
Tensor PixelUnshuffle(const Tensor& x, int r);

// ---- normalisation over channels (dim 1 of NCHW / dim 0 of CHW) ----
// softmax(x, dim=channels), numerically stable.
void SoftmaxChannels(Tensor& x);
// torch.nn.functional.normalize(x, p=2, dim=channels, eps): x / max(||x||_2, eps) per pixel.
void L2NormalizeChannels(Tensor& x, float eps = 1e-12f);
// Same for a plain row-major matrix: normalises each of `rows` rows of length `cols`.
void L2NormalizeRows(float* data, int64_t rows, int64_t cols, float eps = 1e-12f);

// ---- sampling ----
enum class GridPadding { kZeros, kBorder };
// torch.nn.functional.grid_sample(x, grid, mode='bilinear', padding_mode, align_corners) for
// `count` points: grid_xy holds (x, y) pairs in [-1, 1] normalised coordinates (x = -1 is the
// left edge: the centre of pixel 0 when align_corners, its left border otherwise).
// Returns C x count (the layout torch gives for a 1 x 1 x count grid, squeezed).
Tensor GridSampleBilinear(const Tensor& x, const float* grid_xy, int64_t count,
                          bool align_corners, GridPadding padding = GridPadding::kZeros);
// torch.nn.functional.interpolate(x, size=(out_h, out_w), mode='bilinear', align_corners).
Tensor ResizeBilinear(const Tensor& x, int out_h, int out_w, bool align_corners);

// ---- dense layers ----
// torch.nn.functional.linear: x (rows x in) * weight^T (weight: out x in) + bias (out, or
// nullptr) -> rows x out. x may be 2-D (rows x in) or 1-D (in).
Tensor Linear(const Tensor& x, const Tensor& weight, const Tensor* bias,
              Activation act = Activation::kNone, float alpha = 0.01f);

// ---- shape helpers for image tensors ----
struct ImageShape {
  int64_t c = 0, h = 0, w = 0;
};
// Channels/height/width of a C x H x W or 1 x C x H x W tensor; throws naming `op` otherwise.
ImageShape GetImageShape(const Tensor& x, const char* op);
// A C x H x W tensor, or 1 x C x H x W when `like` is 4-D.
Tensor MakeImageLike(const Tensor& like, int64_t c, int64_t h, int64_t w);
// Gives `out` that shape with Tensor::Resize (values unspecified).
void ResizeImageLike(const Tensor& like, int64_t c, int64_t h, int64_t w, Tensor& out);

}  // namespace vigil::nn
