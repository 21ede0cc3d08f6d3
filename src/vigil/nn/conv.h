// 2-D convolution for vigil's CPU inference core (torch.nn.Conv2d semantics, batch 1, zero
// padding). Paths: 1x1 stride-1 = one plain GEMM (gemm.h); 3x3 stride-1 = Winograd F(2x2, 3x3)
// (winograd.h); few taps per output (e.g. 1 input channel) = direct accumulation; otherwise
// im2col + GEMM over bands of output rows so that the column buffer stays cache-sized.
// Bias and an activation (ops.h) are fused into the pass that follows each band's GEMM.
#pragma once

#include <cstdint>

#include "vigil/nn/ops.h"
#include "vigil/nn/tensor.h"

namespace vigil::nn {

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;      // torch `stride`
  int pad_h = 0, pad_w = 0;            // torch `padding` (zeros)
  int dilation_h = 1, dilation_w = 1;  // torch `dilation`
  int groups = 1;                      // torch `groups` (in and out channels divisible by it)
  Activation activation = Activation::kNone;  // applied after the bias
  float activation_alpha = 0.01f;             // LeakyReLU slope / ELU alpha
  // 3x3 stride-1 convolutions with >= 16 input channels run as Winograd F(2x2, 3x3)
  // (winograd.h): 2.25x fewer multiplies, results within rounding of direct convolution.
  bool allow_winograd = true;
  // With allow_winograd: use F(4x4, 3x3) where the output is >= 128 wide, 4x fewer multiplies
  // than direct convolution but transforms with points +-2, so errors grow to ~1e-5 relative
  // (opt-in per network, after checking its fixtures).
  bool winograd_f4 = false;

  // Square shorthands: Conv2dParams::Same(3) = stride 1, pad 1 (torch padding=1 for k=3).
  static Conv2dParams Make(int stride, int pad, int dilation = 1, int groups = 1,
                           Activation act = Activation::kNone) {
    Conv2dParams p;
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = pad;
    p.dilation_h = p.dilation_w = dilation;
    p.groups = groups;
    p.activation = act;
    return p;
  }
};

// Output size of one spatial axis, torch's formula (floor).
int64_t ConvOutputSize(int64_t in, int kernel, int stride, int pad, int dilation);

// y = act(conv2d(x, weight, bias)). x: C_in x H x W (or 1 x ...); weight: C_out x C_in/groups x
// kh x kw (torch layout); bias: C_out or nullptr. Throws vigil::Error on inconsistent shapes.
Tensor Conv2d(const Tensor& x, const Tensor& weight, const Tensor* bias, const Conv2dParams& p);
// Same, into `y` (reusing its allocation; `y` must not alias `x`).
void Conv2d(const Tensor& x, const Tensor& weight, const Tensor* bias, const Conv2dParams& p,
            Tensor& y);

// A convolution layer with its weights, e.g. loaded from a checkpoint.
struct Conv2dLayer {
  Tensor weight;  // C_out x C_in/groups x kh x kw
  Tensor bias;    // C_out (empty = no bias)
  Conv2dParams params;

  Tensor Forward(const Tensor& x) const {
    return Conv2d(x, weight, bias.numel() > 0 ? &bias : nullptr, params);
  }
  void Forward(const Tensor& x, Tensor& y) const {
    Conv2d(x, weight, bias.numel() > 0 ? &bias : nullptr, params, y);
  }
  // Folds a following torch.nn.BatchNorm2d (eval mode) into weight and bias:
  // w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta.
  // Each tensor has C_out elements. Throws on a size mismatch.
  void FoldBatchNorm(const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                     const Tensor& running_var, float eps = 1e-5f);
};

}  // namespace vigil::nn
