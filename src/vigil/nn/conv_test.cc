#include "vigil/nn/conv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "vigil/nn/gemm.h"
#include "vigil/nn/test_util.h"
#include "vigil/util/check.h"

namespace vigil::nn {
namespace {

using test_util::MaxAbsDiff;
using test_util::RandomTensor;

// The definition of torch's conv2d, one output element at a time.
Tensor NaiveConv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p) {
  const int64_t c = x.size(-3), h = x.size(-2), wd = x.size(-1);
  const int64_t co = w.size(0), cig = w.size(1), kh = w.size(2), kw = w.size(3);
  const int64_t oh = (h + 2 * p.pad_h - p.dilation_h * (kh - 1) - 1) / p.stride_h + 1;
  const int64_t ow = (wd + 2 * p.pad_w - p.dilation_w * (kw - 1) - 1) / p.stride_w + 1;
  const int64_t cog = co / p.groups;
  (void)c;
  Tensor y({co, oh, ow});
  for (int64_t o = 0; o < co; ++o) {
    const int64_t g = o / cog;
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        double s = bias != nullptr ? bias->data[o] : 0.0;
        for (int64_t i = 0; i < cig; ++i) {
          for (int64_t ky = 0; ky < kh; ++ky) {
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h;
              const int64_t ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w;
              if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
              s += static_cast<double>(x.data[((g * cig + i) * h + iy) * wd + ix]) *
                   w.data[((o * cig + i) * kh + ky) * kw + kx];
            }
          }
        }
        y.data[(o * oh + oy) * ow + ox] = static_cast<float>(s);
      }
    }
  }
  ApplyActivation(p.activation, y, p.activation_alpha);
  return y;
}

TEST(Conv2d, HandComputed3x3WithPadding) {
  // 1 x 2 x 2 input, all-ones 3x3 kernel, padding 1: each output is the sum of the whole input
  // (every tap window covers all four pixels) = 1 + 2 + 3 + 4 = 10, plus bias 0.5.
  Tensor x({1, 2, 2});
  x.data = {1, 2, 3, 4};
  Tensor w({1, 1, 3, 3}, 1.f);
  Tensor b({1}, 0.5f);
  const Tensor y = Conv2d(x, w, &b, Conv2dParams::Make(1, 1));
  ASSERT_EQ(y.shape, (std::vector<int64_t>{1, 2, 2}));
  for (float v : y.data) EXPECT_FLOAT_EQ(v, 10.5f);
}

TEST(Conv2d, MatchesNaiveOnRandomConfigurations) {
  const Activation acts[] = {Activation::kNone, Activation::kReLU, Activation::kLeakyReLU,
                             Activation::kSELU, Activation::kSigmoid};
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937 rng(seed);
    Conv2dParams p;
    p.groups = 1 + rng() % 3;
    const int64_t cig = 1 + rng() % 12, cog = 1 + rng() % 6;  // both the direct and GEMM paths
    const int kh = 1 + rng() % 4, kw = 1 + rng() % 4;
    p.stride_h = 1 + rng() % 2;
    p.stride_w = 1 + rng() % 3;
    p.dilation_h = 1 + rng() % 2;
    p.dilation_w = 1 + rng() % 2;
    p.pad_h = rng() % 3;
    p.pad_w = rng() % 3;
    p.activation = acts[seed % 5];
    const int64_t h = kh * p.dilation_h + rng() % 9, w = kw * p.dilation_w + rng() % 11;
    const Tensor x = RandomTensor({p.groups * cig, h, w}, seed);
    const Tensor wt = RandomTensor({p.groups * cog, cig, kh, kw}, seed + 1000);
    const Tensor b = RandomTensor({p.groups * cog}, seed + 2000);
    const Tensor* bias = seed % 3 == 0 ? nullptr : &b;
    const Tensor expected = NaiveConv2d(x, wt, bias, p);
    const Tensor got = Conv2d(x, wt, bias, p);
    ASSERT_EQ(got.shape, expected.shape);
    EXPECT_LT(MaxAbsDiff(got.data, expected.data), 1e-4f);
  }
}

TEST(Conv2d, LargeBandedInputMatchesNaiveWithOneAndTwoThreads) {
  // Big enough that the im2col (or Winograd) buffers are split into many bands of rows, which
  // two threads share. Both the Winograd and the im2col path of this 3x3 convolution.
  const uint32_t seed = 77;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const Tensor x = RandomTensor({1, 24, 100, 240}, seed);
  const Tensor w = RandomTensor({8, 24, 3, 3}, seed + 1);
  const Tensor b = RandomTensor({8}, seed + 2);
  Conv2dParams p = Conv2dParams::Make(1, 1, 1, 1, Activation::kReLU);
  const Tensor expected = NaiveConv2d(x, w, &b, p);
  const int before = NumThreads();
  for (bool winograd : {true, false}) {
    p.allow_winograd = winograd;
    for (int threads : {1, 2}) {
      SetNumThreads(threads);
      const Tensor got = Conv2d(x, w, &b, p);
      ASSERT_EQ(got.shape, (std::vector<int64_t>{1, 8, 100, 240}));  // keeps the batch dim
      EXPECT_LT(MaxAbsDiff(got.data, expected.data), 1e-4f)
          << threads << " threads, winograd " << winograd;
      EXPECT_EQ(NumThreads(), threads);  // restored after the banded parallel loop
    }
  }
  SetNumThreads(before);
}

TEST(Conv2d, WinogradMatchesNaiveOnRandomShapes) {
  const int before = NumThreads();
  for (uint32_t seed = 100; seed < 112; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937 rng(seed);
    const int64_t cin = 16 + rng() % 40, cout = 1 + rng() % 40;
    // Odd and even sizes; every other seed wide enough for F(4x4) (from 128 wide).
    const int64_t h = 3 + rng() % 30, w = (seed % 2 ? 3 : 130) + rng() % 70;
    Conv2dParams p = Conv2dParams::Make(1, static_cast<int>(rng() % 3));
    p.activation = seed % 2 ? Activation::kReLU : Activation::kNone;
    const Tensor x = RandomTensor({cin, h, w}, seed);
    const Tensor wt = RandomTensor({cout, cin, 3, 3}, seed + 1000);
    const Tensor b = RandomTensor({cout}, seed + 2000);
    const Tensor expected = NaiveConv2d(x, wt, &b, p);
    SetNumThreads(1 + seed % 2);
    const Tensor got = Conv2d(x, wt, &b, p);
    ASSERT_EQ(got.shape, expected.shape);
    // Sums of ~500 products of magnitude <= 1: Winograd's extra rounding stays near 1e-6.
    EXPECT_LT(MaxAbsDiff(got.data, expected.data), 2e-5f);
    p.winograd_f4 = true;  // F(4x4, 3x3): larger transform constants, a little more rounding
    const Tensor got4 = Conv2d(x, wt, &b, p);
    ASSERT_EQ(got4.shape, expected.shape);
    EXPECT_LT(MaxAbsDiff(got4.data, expected.data), 4e-4f);  // ~2e-5 of the output range
  }
  SetNumThreads(before);
}

TEST(Conv2d, DirectPathForFewTapsMatchesNaive) {
  // 1 input channel, 3x3 (a gray-image first layer), with and without threads.
  const uint32_t seed = 13;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const Tensor x = RandomTensor({1, 1, 121, 163}, seed);  // big enough to be split (ThreadsFor)
  const Tensor w = RandomTensor({16, 1, 3, 3}, seed + 1);
  const Tensor b = RandomTensor({16}, seed + 2);
  const Conv2dParams p = Conv2dParams::Make(1, 1, 1, 1, Activation::kReLU);
  const Tensor expected = NaiveConv2d(x, w, &b, p);
  const int before = NumThreads();
  for (int threads : {1, 2}) {
    SetNumThreads(threads);
    EXPECT_LT(MaxAbsDiff(Conv2d(x, w, &b, p).data, expected.data), 1e-5f) << threads;
  }
  SetNumThreads(before);
}

TEST(Conv2d, PointwiseMatchesNaive) {
  const uint32_t seed = 5;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const Tensor x = RandomTensor({32, 9, 13}, seed);
  const Tensor w = RandomTensor({20, 32, 1, 1}, seed + 1);
  const Tensor b = RandomTensor({20}, seed + 2);
  Conv2dParams p;
  EXPECT_LT(MaxAbsDiff(Conv2d(x, w, &b, p).data, NaiveConv2d(x, w, &b, p).data), 1e-4f);
  p.groups = 4;
  const Tensor wg = RandomTensor({20, 8, 1, 1}, seed + 3);
  EXPECT_LT(MaxAbsDiff(Conv2d(x, wg, &b, p).data, NaiveConv2d(x, wg, &b, p).data), 1e-4f);
}

TEST(Conv2d, FoldBatchNormEqualsConvThenBatchNorm) {
  const uint32_t seed = 11;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const Tensor x = RandomTensor({3, 8, 7}, seed);
  Conv2dLayer layer;
  layer.weight = RandomTensor({4, 3, 3, 3}, seed + 1);
  layer.params = Conv2dParams::Make(1, 1);
  const Tensor gamma = RandomTensor({4}, seed + 2, 0.5f, 2.f);
  const Tensor beta = RandomTensor({4}, seed + 3);
  const Tensor mean = RandomTensor({4}, seed + 4);
  const Tensor var = RandomTensor({4}, seed + 5, 0.1f, 3.f);
  Tensor expected = layer.Forward(x);  // no bias: BN after a bias-free conv, as in ResNets
  const int64_t hw = 8 * 7;
  for (int64_t c = 0; c < 4; ++c) {
    for (int64_t i = 0; i < hw; ++i) {
      float& v = expected.data[c * hw + i];
      v = (v - mean.data[c]) / std::sqrt(var.data[c] + 1e-5f) * gamma.data[c] + beta.data[c];
    }
  }
  layer.FoldBatchNorm(gamma, beta, mean, var);
  EXPECT_LT(MaxAbsDiff(layer.Forward(x).data, expected.data), 1e-4f);
  EXPECT_THROW(layer.FoldBatchNorm(Tensor({3}), beta, mean, var), Error);
}

TEST(Conv2d, IntoReusesTheOutputTensorAcrossSizes) {
  const uint32_t seed = 41;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const Tensor w = RandomTensor({6, 20, 3, 3}, seed);
  const Tensor b = RandomTensor({6}, seed + 1);
  const Conv2dParams p = Conv2dParams::Make(1, 1);
  Tensor y;
  for (int64_t size : {30, 11, 17}) {  // shrinking then growing: stale values must not leak
    const Tensor x = RandomTensor({20, size, size + 3}, seed + static_cast<uint32_t>(size));
    Conv2d(x, w, &b, p, y);
    ASSERT_EQ(y.shape, (std::vector<int64_t>{6, size, size + 3}));
    EXPECT_LT(MaxAbsDiff(y.data, NaiveConv2d(x, w, &b, p).data), 2e-5f) << size;
  }
  const Tensor x = RandomTensor({20, 5, 5}, seed);
  Tensor same = x;
  EXPECT_THROW(Conv2d(same, w, &b, p, same), Error);  // aliasing input and output
}

TEST(Conv2d, RejectsMismatchedShapes) {
  const Tensor x({3, 5, 5});
  EXPECT_THROW(Conv2d(x, Tensor({4, 2, 3, 3}), nullptr, Conv2dParams()), Error);  // channels
  EXPECT_THROW(Conv2d(x, Tensor({4, 3, 9, 9}), nullptr, Conv2dParams()), Error);  // too small
  const Tensor bias({5});
  EXPECT_THROW(Conv2d(x, Tensor({4, 3, 3, 3}), &bias, Conv2dParams()), Error);
  EXPECT_THROW(Conv2d(Tensor({2, 3, 5, 5}), Tensor({4, 3, 3, 3}), nullptr, Conv2dParams()),
               Error);  // batch > 1
}

}  // namespace
}  // namespace vigil::nn
