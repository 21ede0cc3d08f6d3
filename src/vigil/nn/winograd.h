// Winograd minimal filtering F(2x2, 3x3) for 3x3 stride-1 convolutions (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", CVPR 2016): each 2x2 output tile costs 16
// multiplies per (in, out) channel pair instead of 36, done as 16 GEMMs of C_out x C_in by
// C_in x tiles on bands of tile rows small enough to stay in cache. The transforms only use
// the points 0, +-1 (factors 1 and 1/2), so rounding stays within a few ulps of direct
// convolution. With Conv2dParams::winograd_f4, outputs >= 128 wide use F(4x4, 3x3) instead
// (36 multiplies per 4x4 tile instead of 144; points 0, +-1, +-2, so ~1e-5 relative error).
// conv.h's Conv2d picks these automatically; call WinogradConv3x3 directly only to test it.
#pragma once

#include "vigil/nn/conv.h"
#include "vigil/nn/tensor.h"

namespace vigil::nn {

// True when WinogradConv3x3 can run `weight` with `p`: 3x3, stride 1, dilation 1, groups 1.
bool WinogradApplies(const Tensor& weight, const Conv2dParams& p);

// y = act(conv2d(x, weight, bias)) for the case above; y is already sized C_out x out_h x out_w
// (Conv2d does the shape checks). Uses NumThreads() threads (gemm.h).
void WinogradConv3x3(const Tensor& x, const Tensor& weight, const float* bias,
                     const Conv2dParams& p, Tensor& y);

}  // namespace vigil::nn
