#include "vigil/nn/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "vigil/nn/gemm.h"
#include "vigil/nn/test_util.h"
#include "vigil/util/check.h"

namespace vigil::nn {
namespace {

using test_util::MaxAbsDiff;
using test_util::RandomTensor;

TEST(Activation, KnownValues) {
  float v[] = {1.f, -1.f, 0.f};
  ApplyActivation(Activation::kSELU, v, 3);
  EXPECT_NEAR(v[0], 1.0507010f, 1e-6f);
  EXPECT_NEAR(v[1], 1.0507010f * 1.6732632f * (std::exp(-1.f) - 1.f), 1e-6f);  // -1.1113307
  EXPECT_EQ(v[2], 0.f);
  float g[] = {1.f, -1.f};
  ApplyActivation(Activation::kGELU, g, 2);
  EXPECT_NEAR(g[0], 0.8413447f, 1e-6f);
  EXPECT_NEAR(g[1], -0.1586553f, 1e-6f);
  float r[] = {-2.f, 3.f};
  ApplyActivation(Activation::kLeakyReLU, r, 2, 0.1f);
  EXPECT_FLOAT_EQ(r[0], -0.2f);
  EXPECT_FLOAT_EQ(r[1], 3.f);
  float s[] = {0.f, 2.f};
  ApplyActivation(Activation::kSigmoid, s, 2);
  EXPECT_FLOAT_EQ(s[0], 0.5f);
  EXPECT_NEAR(s[1], 0.8807971f, 1e-6f);
  float si[] = {2.f};
  ApplyActivation(Activation::kSiLU, si, 1);
  EXPECT_NEAR(si[0], 2.f * 0.8807971f, 1e-6f);
}

Tensor NaiveMaxPool(const Tensor& x, int k, int s, int p) {
  const int64_t c = x.size(-3), h = x.size(-2), w = x.size(-1);
  const int64_t oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
  Tensor y({c, oh, ow});
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        float m = -std::numeric_limits<float>::infinity();
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) {
            const int64_t iy = oy * s - p + ky, ix = ox * s - p + kx;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) m = std::max(m, x.data[(ch * h + iy) * w + ix]);
          }
        y.data[(ch * oh + oy) * ow + ox] = m;
      }
  return y;
}

TEST(Pooling, MaxPoolMatchesNaive) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937 rng(seed);
    const int k = 1 + rng() % 9, s = 1 + rng() % 3, p = rng() % (k / 2 + 1);
    const int64_t c = 1 + rng() % 3, h = k + rng() % 20, w = k + rng() % 20;
    const Tensor x = RandomTensor({c, h, w}, seed);
    const Tensor got = MaxPool2d(x, k, s, p);
    const Tensor expected = NaiveMaxPool(x, k, s, p);
    ASSERT_EQ(got.shape, expected.shape);
    EXPECT_EQ(MaxAbsDiff(got.data, expected.data), 0.f);
  }
}

TEST(Pooling, MaxPool2x2FastPathMatchesNaiveWithThreads) {
  const uint32_t seed = 17;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const Tensor x = RandomTensor({1, 8, 131, 146}, seed);  // big enough to be split (ThreadsFor)
  const Tensor expected = NaiveMaxPool(x, 2, 2, 0);
  const int before = NumThreads();
  for (int threads : {1, 2}) {
    SetNumThreads(threads);
    EXPECT_EQ(MaxAbsDiff(MaxPool2d(x, 2, 2).data, expected.data), 0.f) << threads;
    EXPECT_EQ(MaxAbsDiff(MaxPool2d(x, 9, 1, 4).data, NaiveMaxPool(x, 9, 1, 4).data), 0.f);
  }
  SetNumThreads(before);
}

TEST(Pooling, MaxPool2x2FloorsOddSizes) {
  Tensor x({1, 1, 3, 3});
  x.data = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const Tensor y = MaxPool2d(x, 2, 2);
  ASSERT_EQ(y.shape, (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(y.data[0], 5.f);
}

TEST(Pooling, AvgPoolPaddingDivisors) {
  // 2x2 input of ones, kernel 3, stride 1, padding 1: each window covers all 4 pixels and 5
  // padding zeros; torch divides by 9 with count_include_pad, by 4 without.
  Tensor x({1, 2, 2}, 1.f);
  const Tensor with_pad = AvgPool2d(x, 3, 1, 1, true);
  const Tensor without = AvgPool2d(x, 3, 1, 1, false);
  for (float v : with_pad.data) EXPECT_FLOAT_EQ(v, 4.f / 9.f);
  for (float v : without.data) EXPECT_FLOAT_EQ(v, 1.f);
  Tensor z({1, 2, 4});
  z.data = {1, 2, 3, 4, 5, 6, 7, 8};
  const Tensor a = AvgPool2d(z, 2, 2);
  ASSERT_EQ(a.shape, (std::vector<int64_t>{1, 1, 2}));
  EXPECT_FLOAT_EQ(a.data[0], 3.5f);
  EXPECT_FLOAT_EQ(a.data[1], 5.5f);
}

TEST(Layout, PixelShuffleIndexMapAndInverse) {
  const uint32_t seed = 3;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const int r = 3;
  const Tensor x = RandomTensor({2 * r * r, 4, 5}, seed);
  const Tensor y = PixelShuffle(x, r);
  ASSERT_EQ(y.shape, (std::vector<int64_t>{2, 12, 15}));
  for (int64_t c = 0; c < 2; ++c)
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < r; ++j)
        for (int64_t h = 0; h < 4; ++h)
          for (int64_t w = 0; w < 5; ++w)
            ASSERT_EQ(y.data[(c * 12 + h * r + i) * 15 + w * r + j],
                      x.data[((c * r * r + i * r + j) * 4 + h) * 5 + w]);
  EXPECT_EQ(PixelUnshuffle(y, r).data, x.data);
  EXPECT_THROW(PixelShuffle(Tensor({5, 2, 2}), 2), Error);
}

TEST(Normalization, SoftmaxAndL2MatchNaive) {
  const uint32_t seed = 9;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const Tensor x = RandomTensor({1, 65, 6, 7}, seed, -20.f, 20.f);
  Tensor sm = x;
  SoftmaxChannels(sm);
  Tensor l2 = x;
  L2NormalizeChannels(l2);
  const int64_t hw = 42;
  for (int64_t i = 0; i < hw; ++i) {
    double mx = -1e30, sum = 0, sq = 0;
    for (int c = 0; c < 65; ++c) mx = std::max<double>(mx, x.data[c * hw + i]);
    for (int c = 0; c < 65; ++c) sum += std::exp(x.data[c * hw + i] - mx);
    for (int c = 0; c < 65; ++c) sq += double(x.data[c * hw + i]) * x.data[c * hw + i];
    for (int c = 0; c < 65; ++c) {
      EXPECT_NEAR(sm.data[c * hw + i], std::exp(x.data[c * hw + i] - mx) / sum, 1e-6);
      EXPECT_NEAR(l2.data[c * hw + i], x.data[c * hw + i] / std::sqrt(sq), 1e-6);
    }
  }
  Tensor zeros({2, 1, 1}, 0.f);
  L2NormalizeChannels(zeros);  // eps keeps the zero vector at zero, no NaN
  EXPECT_EQ(zeros.data[0], 0.f);
}

TEST(GridSample, CornersAndCentresBothConventions) {
  Tensor x({1, 2, 3});
  x.data = {1, 2, 3, 4, 5, 6};
  const float grid[] = {-1.f, -1.f, 1.f, 1.f, 0.f, 0.f};
  // align_corners: -1/+1 are the centres of the corner pixels; 0 is the image centre.
  const Tensor a = GridSampleBilinear(x, grid, 3, true);
  ASSERT_EQ(a.shape, (std::vector<int64_t>{1, 3}));
  EXPECT_FLOAT_EQ(a.data[0], 1.f);
  EXPECT_FLOAT_EQ(a.data[1], 6.f);
  EXPECT_FLOAT_EQ(a.data[2], 3.5f);  // (x=1, y=0.5): mean of 2 and 5
  // align_corners=false: -1 is the outer border of pixel 0, i.e. (-0.5, -0.5): zeros padding
  // weighs the pixel by 1/4; border padding clamps to it.
  const Tensor b = GridSampleBilinear(x, grid, 3, false);
  EXPECT_FLOAT_EQ(b.data[0], 0.25f);
  EXPECT_FLOAT_EQ(b.data[1], 6.f * 0.25f);
  EXPECT_FLOAT_EQ(b.data[2], 3.5f);
  const Tensor c = GridSampleBilinear(x, grid, 3, false, GridPadding::kBorder);
  EXPECT_FLOAT_EQ(c.data[0], 1.f);
  EXPECT_FLOAT_EQ(c.data[1], 6.f);
  const float far[] = {5.f, 5.f};
  EXPECT_EQ(GridSampleBilinear(x, far, 1, true).data[0], 0.f);
}

TEST(GridSample, BilinearMatchesPlaneFitOnRandomPoints) {
  // A plane f(x, y) = 2 + 3x - 0.5y (x, y in pixels) is reproduced exactly by bilinear
  // interpolation inside the image, in both conventions.
  const uint32_t seed = 21;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const int64_t h = 7, w = 11;
  Tensor x({2, h, w});
  for (int64_t yy = 0; yy < h; ++yy)
    for (int64_t xx = 0; xx < w; ++xx) {
      x.data[yy * w + xx] = 2.f + 3.f * xx - 0.5f * yy;
      x.data[h * w + yy * w + xx] = -1.f * xx;
    }
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> ux(0.f, w - 1.f), uy(0.f, h - 1.f);
  for (bool align : {true, false}) {
    std::vector<float> grid;
    std::vector<float> px, py;
    for (int i = 0; i < 50; ++i) {
      const float fx = ux(rng), fy = uy(rng);
      px.push_back(fx);
      py.push_back(fy);
      grid.push_back(align ? fx / (w - 1) * 2 - 1 : (2 * fx + 1) / w - 1);
      grid.push_back(align ? fy / (h - 1) * 2 - 1 : (2 * fy + 1) / h - 1);
    }
    const Tensor s = GridSampleBilinear(x, grid.data(), 50, align);
    for (int i = 0; i < 50; ++i) {
      EXPECT_NEAR(s.data[i], 2.f + 3.f * px[i] - 0.5f * py[i], 1e-4f);
      EXPECT_NEAR(s.data[50 + i], -px[i], 1e-4f);
    }
  }
}

TEST(Resize, BilinearBothConventions) {
  Tensor x({1, 1, 2});
  x.data = {0.f, 1.f};
  const Tensor a = ResizeBilinear(x, 1, 3, true);
  EXPECT_FLOAT_EQ(a.data[0], 0.f);
  EXPECT_FLOAT_EQ(a.data[1], 0.5f);
  EXPECT_FLOAT_EQ(a.data[2], 1.f);
  const Tensor b = ResizeBilinear(x, 1, 4, false);  // torch: [0, 0.25, 0.75, 1]
  EXPECT_FLOAT_EQ(b.data[0], 0.f);
  EXPECT_FLOAT_EQ(b.data[1], 0.25f);
  EXPECT_FLOAT_EQ(b.data[2], 0.75f);
  EXPECT_FLOAT_EQ(b.data[3], 1.f);
}

TEST(Linear, MatchesNaive) {
  const uint32_t seed = 31;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const Tensor x = RandomTensor({5, 12}, seed);
  const Tensor w = RandomTensor({7, 12}, seed + 1);
  const Tensor b = RandomTensor({7}, seed + 2);
  const Tensor y = Linear(x, w, &b, Activation::kReLU);
  ASSERT_EQ(y.shape, (std::vector<int64_t>{5, 7}));
  for (int r = 0; r < 5; ++r)
    for (int o = 0; o < 7; ++o) {
      double s = b.data[o];
      for (int i = 0; i < 12; ++i) s += double(x.data[r * 12 + i]) * w.data[o * 12 + i];
      EXPECT_NEAR(y.data[r * 7 + o], std::max(s, 0.0), 1e-5);
    }
  EXPECT_EQ(Linear(Tensor({12}, 1.f), w, nullptr).shape, (std::vector<int64_t>{7}));
  EXPECT_THROW(Linear(Tensor({5, 11}), w, &b), Error);
}

}  // namespace
}  // namespace vigil::nn
