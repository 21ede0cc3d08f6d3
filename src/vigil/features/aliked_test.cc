#include "vigil/features/aliked.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/features/aliked_ops.h"
#include "vigil/io/torch_checkpoint.h"
#include "vigil/matching/nearest_neighbor.h"
#include "vigil/nn/conv.h"
#include "vigil/util/check.h"
#include "vigil/util/testing.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Operators against plain reference versions of themselves.

nn::Tensor RandomTensor(std::vector<int64_t> shape, uint32_t seed, float scale = 1.f) {
  nn::Tensor t(std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  for (float& v : t.data) v = u(rng);
  return t;
}

// torchvision's bilinear_interpolate, written out directly.
float NaiveBilinear(const float* plane, int h, int w, float y, float x) {
  if (y <= -1 || y >= h || x <= -1 || x >= w) return 0.f;
  const int y0 = static_cast<int>(std::floor(y)), x0 = static_cast<int>(std::floor(x));
  const float ly = y - y0, lx = x - x0;
  auto at = [&](int yy, int xx) {
    return (yy >= 0 && yy < h && xx >= 0 && xx < w) ? plane[yy * w + xx] : 0.f;
  };
  return (1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x0 + 1) +
         ly * (1 - lx) * at(y0 + 1, x0) + ly * lx * at(y0 + 1, x0 + 1);
}

// deform_conv2d (3x3, pad 1) as a direct sum, offsets given.
std::vector<float> NaiveDeformConv(const nn::Tensor& x, const std::vector<float>& offsets,
                                   const nn::Tensor& weight, const nn::Tensor& bias) {
  const int c = static_cast<int>(x.size(0)), h = static_cast<int>(x.size(1)),
            w = static_cast<int>(x.size(2)), co = static_cast<int>(weight.size(0));
  std::vector<float> out(static_cast<size_t>(co) * h * w);
  for (int o = 0; o < co; ++o) {
    for (int y = 0; y < h; ++y) {
      for (int xx = 0; xx < w; ++xx) {
        double sum = bias.data[o];
        for (int t = 0; t < 9; ++t) {
          const float dy = offsets[(2 * t) * h * w + y * w + xx];
          const float dx = offsets[(2 * t + 1) * h * w + y * w + xx];
          for (int ci = 0; ci < c; ++ci) {
            const float v =
                NaiveBilinear(x.ptr() + ci * h * w, h, w, y - 1 + t / 3 + dy, xx - 1 + t % 3 + dx);
            sum += weight.data[(o * c + ci) * 9 + t] * v;
          }
        }
        out[(o * h + y) * w + xx] = static_cast<float>(sum);
      }
    }
  }
  return out;
}

TEST(AlikedOps, DeformConvMatchesDirectSum) {
  const uint32_t seed = 11;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const nn::Tensor x = RandomTensor({5, 13, 17}, seed);
  nn::Conv2dLayer offset_conv, conv;
  // Offsets up to +-3 px so that samples leave the map on every side.
  offset_conv.weight = RandomTensor({18, 5, 3, 3}, seed + 1, 0.4f);
  offset_conv.bias = RandomTensor({18}, seed + 2, 1.f);
  offset_conv.params = nn::Conv2dParams::Make(1, 1);
  conv.weight = RandomTensor({7, 5, 3, 3}, seed + 3);
  conv.bias = RandomTensor({7}, seed + 4);
  const float max_offset = 3.f;
  const nn::Tensor y =
      aliked::DeformConv2d(x, offset_conv, max_offset, conv, nn::Activation::kNone, nullptr, 2);
  std::vector<float> offsets = offset_conv.Forward(x).data;
  for (float& o : offsets) o = std::clamp(o, -max_offset, max_offset);
  const std::vector<float> expected = NaiveDeformConv(x, offsets, conv.weight, conv.bias);
  ASSERT_EQ(y.numel(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) ASSERT_NEAR(y.data[i], expected[i], 1e-4f) << i;
}

TEST(AlikedOps, DeformConvWithZeroOffsetsIsConv) {
  const nn::Tensor x = RandomTensor({4, 9, 11}, 5);
  nn::Conv2dLayer offset_conv, conv;
  offset_conv.weight = nn::Tensor({18, 4, 3, 3}, 0.f);
  offset_conv.bias = nn::Tensor({18}, 0.f);
  offset_conv.params = nn::Conv2dParams::Make(1, 1);
  conv.weight = RandomTensor({6, 4, 3, 3}, 6);
  conv.bias = RandomTensor({6}, 7);
  conv.params = nn::Conv2dParams::Make(1, 1, 1, 1, nn::Activation::kSELU);
  const nn::Tensor residual = RandomTensor({6, 9, 11}, 8);
  const nn::Tensor y =
      aliked::DeformConv2d(x, offset_conv, 2.f, conv, nn::Activation::kSELU, &residual, 1);
  nn::Conv2dLayer plain = conv;
  plain.params.activation = nn::Activation::kNone;
  nn::Tensor expected = plain.Forward(x);
  for (int64_t i = 0; i < expected.numel(); ++i) expected.data[i] += residual.data[i];
  nn::ApplyActivation(nn::Activation::kSELU, expected);
  for (int64_t i = 0; i < expected.numel(); ++i) ASSERT_NEAR(y.data[i], expected.data[i], 1e-5f);
}

TEST(AlikedOps, DirectConvMatchesNnConv) {
  const uint32_t seed = 21;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  nn::Conv2dLayer conv;
  conv.weight = RandomTensor({4, 8, 3, 3}, seed);
  conv.params = nn::Conv2dParams::Make(1, 1);
  for (const bool with_bias : {false, true}) {
    conv.bias = with_bias ? RandomTensor({4}, seed + 1) : nn::Tensor();
    const nn::Tensor x = RandomTensor({8, 7, 19}, seed + 2);
    const nn::Tensor expected = conv.Forward(x);
    const nn::Tensor y = aliked::Conv3x3Direct(x, conv, 2);
    ASSERT_EQ(y.shape, expected.shape);
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_NEAR(y.data[i], expected.data[i], 1e-5f) << i;
  }
}

TEST(AlikedOps, FusedPointwiseMatchesTwoConvs) {
  const uint32_t seed = 31;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const int cin = 5, q = 6, m = 3, h = 9, w = 31;  // 279 pixels: two full tiles and a partial one
  const nn::Tensor x = RandomTensor({cin, h, w}, seed);
  nn::Conv2dLayer first, second;
  first.weight = RandomTensor({q, cin, 1, 1}, seed + 1);
  second.weight = RandomTensor({m, q, 1, 1}, seed + 2);
  nn::Tensor g = first.Forward(x);
  nn::ApplyActivation(nn::Activation::kSELU, g);
  const nn::Tensor t = second.Forward(g);
  std::vector<float> g_hwc(static_cast<size_t>(h) * w * q), t_chw(static_cast<size_t>(m) * h * w);
  aliked::FusedPointwiseSelu(x.ptr(), h * w, cin, first.weight.ptr(), q, second.weight.ptr(), m,
                             g_hwc.data(), t_chw.data(), 2);
  for (int p = 0; p < h * w; ++p) {
    for (int o = 0; o < q; ++o) ASSERT_NEAR(g_hwc[p * q + o], g.data[o * h * w + p], 1e-5f);
    for (int j = 0; j < m; ++j) ASSERT_NEAR(t_chw[j * h * w + p], t.data[j * h * w + p], 1e-5f);
  }
}

TEST(AlikedOps, SeluMatchesDefinition) {
  std::vector<float> v;
  for (float x = -20.f; x <= 5.f; x += 0.01f) v.push_back(x);
  std::vector<float> y = v;
  aliked::SeluInPlace(y.data(), static_cast<int64_t>(y.size()), 2);
  for (size_t i = 0; i < v.size(); ++i) {
    const double x = v[i];
    const double expected = 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * std::expm1(x));
    ASSERT_NEAR(y[i], expected, 2e-6 * std::max(1.0, std::abs(expected))) << x;
  }
}

TEST(AlikedOps, UpsampleAxisAlignCorners) {
  // 4 -> 8 with align_corners: source of output o is o * 3 / 7.
  const aliked::UpsampleAxis axis(4, 8);
  for (int o = 0; o < 8; ++o) {
    const double src = o * 3.0 / 7.0;
    EXPECT_NEAR(axis.i0[o] + axis.l1[o], src, 1e-6) << o;
    EXPECT_NEAR(axis.l0[o] + axis.l1[o], 1.0, 1e-6);
  }
  EXPECT_EQ(axis.i0[7], 3);
  EXPECT_EQ(axis.i1[7], 3);  // the last sample does not read past the end
}

TEST(AlikedOps, NmsKeepsIsolatedMaximaOnly) {
  const int h = 20, w = 30;
  std::vector<float> s(h * w, 0.1f);
  s[5 * w + 5] = 0.9f;
  s[5 * w + 7] = 0.8f;  // within radius 2 of a larger value: suppressed
  s[15 * w + 20] = 0.7f;
  const std::vector<float> nms = aliked::SimpleNms(s.data(), h, w, 2);
  int kept = 0;
  for (float v : nms) kept += v > 0.5f;
  EXPECT_EQ(kept, 2);
  EXPECT_FLOAT_EQ(nms[5 * w + 5], 0.9f);
  EXPECT_FLOAT_EQ(nms[15 * w + 20], 0.7f);
  EXPECT_EQ(nms[5 * w + 7], 0.f);
}

TEST(AlikedOps, DkdSoftArgmaxRefinesTowardsMass) {
  // A peak of 1.0 at (x=10, y=8) with a 0.9 neighbour on its right: the soft-argmax (T = 0.1)
  // moves the keypoint right by (e^-1 - e^-10) / (1 + e^-1 + 23 e^-10) px; y stays.
  const int h = 20, w = 24;
  std::vector<float> s(h * w, 0.f);
  s[8 * w + 10] = 1.f;
  s[8 * w + 11] = 0.9f;
  aliked::DkdOptions options;
  options.top_k = -1;
  options.scores_th = 0.5f;
  const aliked::DkdResult r = aliked::DetectKeypoints(s.data(), h, w, options);
  ASSERT_EQ(r.scores.size(), 1u);
  const double e1 = std::exp(-1.0), e10 = std::exp(-10.0);
  // The 23 zero cells' x offsets sum to 0 - 0 (peak) - 1 (neighbour) = -1.
  const double dx = (e1 - e10) / (1 + e1 + 23 * e10);
  // Rows -2..2 of the window are symmetric, so y's residual is 0.
  EXPECT_NEAR(r.xy[0], 10 + dx, 1e-4);
  EXPECT_NEAR(r.xy[1], 8.0, 1e-4);
  // Score: bilinear between 1.0 and 0.9 at the refined x.
  EXPECT_NEAR(r.scores[0], 1.0 - 0.1 * dx, 1e-4);
}

TEST(AlikedOps, DkdModesAndLimits) {
  const int h = 40, w = 40;
  std::vector<float> s(h * w, 0.f);
  // Maxima in raster order with increasing scores; one on the border (dropped).
  const int ys[5] = {5, 5, 20, 30, 1}, xs[5] = {5, 20, 10, 30, 20};
  const float vs[5] = {0.3f, 0.6f, 0.5f, 0.9f, 0.95f};
  for (int i = 0; i < 5; ++i) s[ys[i] * w + xs[i]] = vs[i];
  aliked::DkdOptions threshold;
  threshold.scores_th = 0.2f;
  aliked::DkdResult r = aliked::DetectKeypoints(s.data(), h, w, threshold);
  ASSERT_EQ(r.scores.size(), 4u);  // raster order, border one removed
  EXPECT_NEAR(r.xy[0], 5, 1e-3);
  EXPECT_NEAR(r.xy[2], 20, 1e-3);
  EXPECT_NEAR(r.xy[5], 20, 1e-3);
  threshold.n_limit = 2;  // the best two, by score
  r = aliked::DetectKeypoints(s.data(), h, w, threshold);
  ASSERT_EQ(r.scores.size(), 2u);
  EXPECT_NEAR(r.xy[0], 30, 1e-3);
  EXPECT_NEAR(r.xy[2], 20, 1e-3);
  aliked::DkdOptions topk;
  topk.top_k = 3;
  r = aliked::DetectKeypoints(s.data(), h, w, topk);
  ASSERT_EQ(r.scores.size(), 3u);
  topk.top_k = 100;  // only 4 maxima away from the border: no suppressed pixels as keypoints
  EXPECT_EQ(aliked::DetectKeypoints(s.data(), h, w, topk).scores.size(), 4u);
  topk.top_k = 3;
  r = aliked::DetectKeypoints(s.data(), h, w, topk);
  EXPECT_GT(r.scores[0], r.scores[1]);
  EXPECT_GT(r.scores[1], r.scores[2]);
  threshold.n_limit = 5000;
  threshold.scores_th = 0.99f;  // nothing above: falls back to the map's mean
  r = aliked::DetectKeypoints(s.data(), h, w, threshold);
  EXPECT_EQ(r.scores.size(), 4u);
}

// ---------------------------------------------------------------------------------------------
// The network against the authors' outputs (real weights, ../shared/fixtures/aliked).

// Acceptance tolerances of issue 6.
constexpr double kMinKeypointRecall = 0.98;  // reference keypoints found within 0.05 px
constexpr double kKeypointTolerance = 0.05;
constexpr double kMaxCountError = 0.02;
constexpr float kScoreTolerance = 1e-3f;
constexpr float kMinCosine = 0.999f;

const char* const kImages[] = {"scannet0",  "scannet1", "freiburg0", "freiburg0s",
                               "freiburg1", "sacre0",   "sacre1"};

fs::path WeightsPath(const std::string& model) {
  return vigil::testing::ModelsDir() / "aliked" / (model + ".pth");
}

std::unique_ptr<FeatureExtractor> MakeAliked(const std::string& model, int top_k) {
  FeatureExtractorOptions options;
  options.type = model;
  options.num_threads = 2;
  options.aliked.weights = WeightsPath(model).string();
  options.aliked.top_k = top_k;  // -1: threshold 0.2, n_limit 5000 (defaults)
  return FeatureExtractor::Create(options);
}

struct Comparison {
  int reference = 0, ours = 0, matched = 0;
  float max_score_error = 0.f, min_cosine = 1.f;
  int score_failures = 0, cosine_failures = 0;
};

Comparison Compare(const Features& f, const fs::path& fixture) {
  cv::FileStorage fs(fixture.string(), cv::FileStorage::READ);
  EXPECT_TRUE(fs.isOpened()) << fixture;
  cv::Mat kp, sc, desc;
  fs["keypoints"] >> kp;
  fs["scores"] >> sc;
  fs["descriptors"] >> desc;
  Comparison c;
  c.reference = kp.rows;
  c.ours = f.size();
  EXPECT_EQ(desc.cols, f.descriptor_dim());
  for (int i = 0; i < kp.rows; ++i) {
    const float rx = kp.at<float>(i, 0), ry = kp.at<float>(i, 1);
    int best = -1;
    double best_d2 = kKeypointTolerance * kKeypointTolerance;
    for (int j = 0; j < f.size(); ++j) {
      const double dx = f.keypoints(j, 0) - rx, dy = f.keypoints(j, 1) - ry;
      const double d2 = dx * dx + dy * dy;
      if (d2 <= best_d2) {
        best_d2 = d2;
        best = j;
      }
    }
    if (best < 0) continue;
    ++c.matched;
    const float score_error = std::abs(f.scores(best) - sc.at<float>(i));
    c.max_score_error = std::max(c.max_score_error, score_error);
    c.score_failures += score_error > kScoreTolerance;
    double dot = 0, n0 = 0, n1 = 0;
    for (int d = 0; d < desc.cols; ++d) {
      const double a = desc.at<float>(i, d), b = f.descriptors(best, d);
      dot += a * b;
      n0 += a * a;
      n1 += b * b;
    }
    const float cosine = static_cast<float>(dot / std::sqrt(n0 * n1));
    c.min_cosine = std::min(c.min_cosine, cosine);
    c.cosine_failures += cosine < kMinCosine;
  }
  return c;
}

void ExpectMatchesFixtures(const std::string& model, const std::string& mode, int top_k) {
  const fs::path weights = WeightsPath(model);
  VIGIL_REQUIRE_FILE(weights);
  auto extractor = MakeAliked(model, top_k);
  for (const char* image_name : kImages) {
    const fs::path fixture = vigil::testing::FixturesDir() / "aliked" /
                             (model + "_" + mode + "_" + image_name + ".yml.gz");
    const fs::path image_path =
        vigil::testing::FixturesDir() / "images" / (std::string(image_name) + ".png");
    VIGIL_REQUIRE_FILE(fixture);
    VIGIL_REQUIRE_FILE(image_path);
    const cv::Mat image = cv::imread(image_path.string(), cv::IMREAD_COLOR);
    const Features f = extractor->Extract(image);
    const Comparison c = Compare(f, fixture);
    SCOPED_TRACE(model + " " + mode + " " + image_name);
    std::printf("%s %s %-10s ref %4d ours %4d matched %.4f  max|dscore| %.2e  min cos %.6f\n",
                model.c_str(), mode.c_str(), image_name, c.reference, c.ours,
                static_cast<double>(c.matched) / std::max(1, c.reference),
                static_cast<double>(c.max_score_error), static_cast<double>(c.min_cosine));
    EXPECT_GE(c.matched, kMinKeypointRecall * c.reference);
    EXPECT_LE(std::abs(c.ours - c.reference), kMaxCountError * c.reference);
    EXPECT_EQ(c.score_failures, 0) << "max score error " << c.max_score_error;
    EXPECT_EQ(c.cosine_failures, 0) << "min cosine " << c.min_cosine;
    EXPECT_EQ(f.image_width, image.cols);
    EXPECT_EQ(f.image_height, image.rows);
    EXPECT_EQ(f.extractor, model);
  }
}

TEST(Aliked, T16TopKMatchesReference) { ExpectMatchesFixtures("aliked-t16", "top1024", 1024); }
TEST(Aliked, T16ThresholdMatchesReference) { ExpectMatchesFixtures("aliked-t16", "th0.2", -1); }
TEST(Aliked, N16TopKMatchesReference) { ExpectMatchesFixtures("aliked-n16", "top1024", 1024); }
TEST(Aliked, N16ThresholdMatchesReference) { ExpectMatchesFixtures("aliked-n16", "th0.2", -1); }

TEST(Aliked, N16RotAndN32LoadAndRun) {
  const fs::path image_path = vigil::testing::FixturesDir() / "images" / "scannet0.png";
  VIGIL_REQUIRE_FILE(image_path);
  const cv::Mat image = cv::imread(image_path.string(), cv::IMREAD_COLOR);
  for (const std::string model : {"aliked-n16rot", "aliked-n32"}) {
    VIGIL_REQUIRE_FILE(WeightsPath(model));
    SCOPED_TRACE(model);
    const Features f = MakeAliked(model, 512)->Extract(image);
    ASSERT_EQ(f.size(), 512);
    EXPECT_EQ(f.descriptor_dim(), 128);
    for (int i = 0; i < f.size(); ++i) {
      ASSERT_NEAR(f.descriptors.row(i).norm(), 1.f, 1e-4f);
      ASSERT_GE(f.keypoints(i, 0), 0.f);
      ASSERT_LE(f.keypoints(i, 0), image.cols - 1.f);
      ASSERT_GE(f.keypoints(i, 1), 0.f);
      ASSERT_LE(f.keypoints(i, 1), image.rows - 1.f);
      ASSERT_GT(f.scores(i), 0.f);
    }
  }
}

TEST(Aliked, ShiftedImageMatchesAtTrueShift) {
  const fs::path i0 = vigil::testing::FixturesDir() / "images" / "freiburg0.png";
  const fs::path i1 = vigil::testing::FixturesDir() / "images" / "freiburg0s.png";
  VIGIL_REQUIRE_FILE(i0);
  VIGIL_REQUIRE_FILE(i1);
  VIGIL_REQUIRE_FILE(WeightsPath("aliked-n16"));
  auto extractor = MakeAliked("aliked-n16", 1024);
  const Features f0 = extractor->Extract(cv::imread(i0.string(), cv::IMREAD_COLOR));
  const Features f1 = extractor->Extract(cv::imread(i1.string(), cv::IMREAD_COLOR));
  const Matches m = MatchNearestNeighbors(f0, f1, NearestNeighborOptions{});
  int total = 0, within3 = 0, within15 = 0;
  for (int i = 0; i < f0.size(); ++i) {
    const int j = m.matches0[i];
    if (j < 0) continue;
    ++total;
    const double ex = f1.keypoints(j, 0) - f0.keypoints(i, 0) - 13.0;
    const double ey = f1.keypoints(j, 1) - f0.keypoints(i, 1) - 7.0;
    const double e = std::hypot(ex, ey);
    within3 += e <= 3.0;
    within15 += e <= 1.5;
  }
  std::printf(
      "freiburg0 -> freiburg0s: %d mutual NN matches, %.4f within 3 px, %.4f within 1.5 px\n",
      total, static_cast<double>(within3) / std::max(1, total),
      static_cast<double>(within15) / std::max(1, total));
  ASSERT_GT(total, 300);
  EXPECT_GE(within3, 0.95 * total);
}

TEST(Aliked, ImageSizeNotMultipleOf32) {
  // InputPadder replicates the border up to a multiple of 32; keypoints refer to the original.
  VIGIL_REQUIRE_FILE(WeightsPath("aliked-t16"));
  const fs::path image_path = vigil::testing::FixturesDir() / "images" / "sacre0.png";
  VIGIL_REQUIRE_FILE(image_path);
  const cv::Mat full = cv::imread(image_path.string(), cv::IMREAD_COLOR);
  const cv::Mat image = full(cv::Rect(3, 5, 301, 203)).clone();
  auto extractor = MakeAliked("aliked-t16", -1);
  const Features f = extractor->Extract(image);
  ASSERT_GT(f.size(), 20);
  EXPECT_EQ(f.image_width, 301);
  EXPECT_EQ(f.image_height, 203);
  for (int i = 0; i < f.size(); ++i) {
    ASSERT_GE(f.keypoints(i, 0), 0.f);
    ASSERT_LE(f.keypoints(i, 0), 300.f);
    ASSERT_GE(f.keypoints(i, 1), 0.f);
    ASSERT_LE(f.keypoints(i, 1), 202.f);
  }
  // Gray input is replicated to RGB: same result as the BGR image of the gray picture.
  cv::Mat gray, gray_bgr;
  cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
  cv::cvtColor(gray, gray_bgr, cv::COLOR_GRAY2BGR);
  const Features fg = extractor->Extract(gray);
  const Features fb = extractor->Extract(gray_bgr);
  ASSERT_EQ(fg.size(), fb.size());
  EXPECT_TRUE(fg.keypoints.isApprox(fb.keypoints));
}

TEST(Aliked, TinyImagesDoNotCrash) {
  VIGIL_REQUIRE_FILE(WeightsPath("aliked-t16"));
  for (const int top_k : {-1, 50}) {
    auto extractor = MakeAliked("aliked-t16", top_k);
    for (const cv::Size size : {cv::Size(1, 1), cv::Size(7, 5), cv::Size(65, 33)}) {
      SCOPED_TRACE(::testing::Message() << size << " top_k " << top_k);
      cv::Mat image(size, CV_8UC3);
      cv::randu(image, 0, 255);
      const Features f = extractor->Extract(image);
      EXPECT_EQ(f.descriptors.rows(), f.size());
      if (top_k > 0) {
        EXPECT_LE(f.size(), top_k);
      }
      for (int i = 0; i < f.size(); ++i) {
        ASSERT_TRUE(f.keypoints(i, 0) >= 0 && f.keypoints(i, 0) <= size.width - 1);
        ASSERT_TRUE(f.keypoints(i, 1) >= 0 && f.keypoints(i, 1) <= size.height - 1);
      }
    }
  }
}

TEST(Aliked, OtherCheckpointGivesOneClearError) {
  const fs::path superpoint =
      vigil::testing::FixturesDir() / "superpoint" / "superpoint_random_zip.pth";
  VIGIL_REQUIRE_FILE(superpoint);
  FeatureExtractorOptions options;
  options.type = "aliked-n16";
  options.aliked.weights = superpoint.string();
  try {
    FeatureExtractor::Create(options);
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("not an ALIKED checkpoint"), std::string::npos) << what;
    EXPECT_NE(what.find("superpoint_random_zip.pth"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(Aliked, WrongConfigurationOrMissingTensorIsReported) {
  VIGIL_REQUIRE_FILE(WeightsPath("aliked-t16"));
  // t16 weights for the n16 network: a shape mismatch naming the tensor.
  FeatureExtractorOptions options;
  options.type = "aliked-n16";
  options.aliked.weights = WeightsPath("aliked-t16").string();
  try {
    FeatureExtractor::Create(options);
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("block1.conv1.weight"), std::string::npos) << e.what();
  }
  // A state_dict with one tensor removed.
  io::StateDict full = io::LoadTorchCheckpoint(WeightsPath("aliked-t16"));
  std::map<std::string, io::CheckpointTensor> entries = full.entries();
  entries.erase("block3.conv2.offset_conv.bias");
  options.type = "aliked-t16";
  AlikedOptions aliked = options.aliked;
  aliked.model = "aliked-t16";
  try {
    CreateAlikedExtractorFromStateDict(aliked, io::StateDict("cut.pth", entries), 1);
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cut.pth"), std::string::npos) << what;
    EXPECT_NE(what.find("block3.conv2.offset_conv.bias"), std::string::npos) << what;
  }
}

TEST(Aliked, RejectsBadImages) {
  VIGIL_REQUIRE_FILE(WeightsPath("aliked-t16"));
  auto extractor = MakeAliked("aliked-t16", 100);
  EXPECT_THROW(extractor->Extract(cv::Mat()), Error);
  EXPECT_THROW(extractor->Extract(cv::Mat(64, 64, CV_32FC3, cv::Scalar(0.5))), Error);
}

}  // namespace
}  // namespace vigil
