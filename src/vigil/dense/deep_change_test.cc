#include "vigil/dense/deep_change.h"

#include <cmath>
#include <filesystem>
#include <memory>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "vigil/dense/dense_test_util.h"
#include "vigil/util/check.h"
#include "vigil/util/testing.h"

namespace vigil::dense {
namespace {

// Texture with grains of ~12 px (dense_test_util.h's, 3x coarser): content coarser than a
// stride-4 cell, like most of a real scene; finer texture aliases at every stride.
cv::Mat Texture(cv::Size size, uint64_t seed) {
  cv::Mat out;
  cv::resize(testing_util::Texture({(size.width + 2) / 3, (size.height + 2) / 3}, seed), out, size,
             0, 0, cv::INTER_CUBIC);
  return out;
}

const cv::Size kSize(224, 224);

std::filesystem::path ModelFile() {
  return vigil::testing::ModelsDir() / "mobilenet_v2" / "mobilenet_v2_1.0_224_spade.onnx";
}

// One backbone for the whole suite (loading the ONNX file is the slow part).
spade::Backbone& SharedBackbone(cv::Size size) {
  static std::unique_ptr<spade::Backbone> backbone;
  static cv::Size built;
  if (!backbone || built != size) {
    backbone = std::make_unique<spade::Backbone>(
        DeepBackboneOptions(ModelFile().string(), size, DeepChangeOptions()));
    built = size;
  }
  return *backbone;
}

ChangeMap Score(const cv::Mat& query, const cv::Mat& reference, const cv::Mat& homography = {},
                const DeepChangeOptions& options = {}) {
  const DeepFeatures fq = ComputeDeepFeatures(SharedBackbone(query.size()), query);
  const DeepFeatures fr = ComputeDeepFeatures(SharedBackbone(reference.size()), reference);
  return ScoreDeep(fq, fr, RegistrationFromHomography(homography, query.size(), reference.size()),
                   options);
}

using testing_util::Quantile;  // dense_test_util.h

cv::Mat RectMask(cv::Size size, const cv::Rect& r) {
  cv::Mat m = cv::Mat::zeros(size, CV_8U);
  m(r).setTo(255);
  return m;
}

// Pixels farther than `margin` from `r` (and valid in the map).
cv::Mat Outside(const ChangeMap& map, const cv::Rect& r, int margin) {
  cv::Mat m = map.valid.clone();
  const cv::Rect grown(r.x - margin, r.y - margin, r.width + 2 * margin, r.height + 2 * margin);
  m(grown & cv::Rect(0, 0, m.cols, m.rows)).setTo(0);
  return m;
}

#define REQUIRE_MODEL() VIGIL_REQUIRE_FILE(ModelFile())

double Max(const cv::Mat& score, const cv::Mat& mask) { return Quantile(score, mask, 1.0); }

cv::Mat Shifted(const cv::Mat& image, double dx, double dy) {
  cv::Mat out;
  const cv::Mat t = (cv::Mat_<double>(2, 3) << 1, 0, dx, 0, 1, dy);
  cv::warpAffine(image, out, t, image.size(), cv::INTER_LINEAR, cv::BORDER_REFLECT);
  return out;
}

// Stride-4 receptive-field spread of a change: pixels farther than this from it are "outside".
constexpr int kMargin = 16;
const cv::Rect kBlob(90, 80, 40, 36);

// --- Model-free: the scoring kernel against a brute-force version of its definition. ---

DeepFeatures RandomFeatures(cv::Size grid, int channels, uint64_t seed) {
  cv::RNG rng(seed);
  DeepFeatures f;
  f.taps = {"t"};
  f.image_size = grid;  // one cell per pixel: the upsampling is the identity
  spade::FeatureMap map;
  map.channels = channels;
  map.width = grid.width;
  map.height = grid.height;
  map.data.resize(static_cast<size_t>(grid.area()) * channels);
  for (int p = 0; p < grid.area(); ++p) {
    double sq = 0;
    float* v = map.data.data() + static_cast<size_t>(p) * channels;
    for (int c = 0; c < channels; ++c) {
      v[c] = static_cast<float>(rng.uniform(0.0, 1.0));
      sq += v[c] * v[c];
    }
    for (int c = 0; c < channels; ++c) v[c] = static_cast<float>(v[c] / std::sqrt(sq));
  }
  f.maps.push_back(std::move(map));
  return f;
}

double Distance(const spade::FeatureMap& a, int ay, int ax, const spade::FeatureMap& b, int by,
                int bx) {
  double sq = 0;
  for (int c = 0; c < a.channels; ++c) {
    const double d = a.pixel(ay, ax)[c] - b.pixel(by, bx)[c];
    sq += d * d;
  }
  return std::sqrt(sq);
}

TEST(DeepChange, ScoresEqualBruteForceWindowedNearestNeighbour) {
  const cv::Size grid(12, 9);
  const DeepFeatures q = RandomFeatures(grid, 8, 1), r = RandomFeatures(grid, 8, 2);
  for (int window : {0, 1, 2}) {
    for (int shift : {0, 1}) {  // registration: reference x = query x + shift (whole cells)
      DeepChangeOptions options;
      options.taps = {"t"};
      options.window_cells = window;
      const cv::Mat h = (cv::Mat_<double>(3, 3) << 1, 0, shift, 0, 1, 0, 0, 0, 1);
      const ChangeMap map = ScoreDeep(q, r, RegistrationFromHomography(h, grid, grid), options);
      const spade::FeatureMap &fq = q.maps[0], &fr = r.maps[0];
      for (int y = 0; y < grid.height; ++y) {
        for (int x = 0; x < grid.width; ++x) {
          // Valid: every in-grid window cell registers inside the reference.
          bool valid = x + shift <= grid.width - 1;
          for (int dx = -window; dx <= window; ++dx) {
            const int xx = x + dx;
            if (xx >= 0 && xx < grid.width && xx + shift > grid.width - 1) valid = false;
          }
          ASSERT_EQ(map.valid.at<uint8_t>(y, x) != 0, valid) << "window " << window << " at " << x << "," << y;
          if (!valid) continue;
          double best_new = 1e9, best_missing = 1e9;
          for (int dy = -window; dy <= window; ++dy) {
            for (int dx = -window; dx <= window; ++dx) {
              const int yy = y + dy, xx = x + dx;
              if (yy < 0 || yy >= grid.height || xx < 0 || xx >= grid.width) continue;
              best_new = std::min(best_new, Distance(fq, y, x, fr, yy, xx + shift));
              best_missing = std::min(best_missing, Distance(fr, y, x + shift, fq, yy, xx));
            }
          }
          EXPECT_NEAR(map.new_score.at<float>(y, x), best_new, 1e-4) << x << "," << y;
          EXPECT_NEAR(map.missing_score.at<float>(y, x), best_missing, 1e-4) << x << "," << y;
        }
      }
    }
  }
}

TEST(DeepChange, InputSizeIsTheImageRoundedToMultiplesOf32) {
  DeepChangeOptions options;
  options.input_scale = 1;
  EXPECT_EQ(DeepInputSize({640, 480}, options), cv::Size(640, 480));
  EXPECT_EQ(DeepInputSize({650, 470}, options), cv::Size(640, 480));
  EXPECT_EQ(DeepInputSize({160, 128}, options), cv::Size(224, 224));  // the graph's minimum
  options.input_scale = 0.5;
  EXPECT_EQ(DeepInputSize({1000, 700}, options), cv::Size(512, 352));
  options.input_scale = 0.5;
  const spade::BackboneOptions b = DeepBackboneOptions("m.onnx", {1280, 960}, options);
  EXPECT_EQ(b.pyramid_taps, options.taps);
  EXPECT_EQ(b.input_width, 640);
  EXPECT_EQ(b.input_height, 480);
}

TEST(DeepChange, BadOptionsAndInputsThrowOrGiveAnInvalidMap) {
  DeepChangeOptions bad;
  bad.window_cells = -1;
  const std::string e = vigil::testing::ErrorOf([&] { bad.Check(); });
  EXPECT_NE(e.find("dense_deep.window_cells"), std::string::npos) << e;
  EXPECT_NE(e.find("-1"), std::string::npos) << e;
  bad = DeepChangeOptions();
  bad.taps.clear();
  EXPECT_NE(vigil::testing::ErrorOf([&] { bad.Check(); }).find("dense_deep.taps"),
            std::string::npos);

  const cv::Size grid(10, 8);
  const DeepFeatures q = RandomFeatures(grid, 4, 3), r = RandomFeatures(grid, 4, 4);
  DeepChangeOptions options;
  options.taps = {"t"};
  const Registration identity = RegistrationFromHomography(cv::Mat(), grid, grid);
  EXPECT_THROW(ScoreDeep(DeepFeatures(), r, identity, options), vigil::Error);
  EXPECT_THROW(ScoreDeep(q, r, Registration(), options), vigil::Error);
  EXPECT_THROW(ScoreDeep(q, r, RegistrationFromHomography(cv::Mat(), {11, 8}, grid), options),
               vigil::Error);  // registration for another query size
  EXPECT_THROW(ScoreDeep(q, r, RegistrationFromHomography(cv::Mat(), grid, {10, 9}), options),
               vigil::Error);  // ... for another reference size
  DeepChangeOptions other_tap = options;
  other_tap.taps = {"s16x"};
  const std::string missing = vigil::testing::ErrorOf([&] { ScoreDeep(q, r, identity, other_tap); });
  EXPECT_NE(missing.find("s16x"), std::string::npos) << missing;
  DeepFeatures wide = RandomFeatures(grid, 5, 5);
  EXPECT_THROW(ScoreDeep(q, wide, identity, options), vigil::Error);  // channel counts differ

  // Registered entirely outside the reference: all invalid, zeros, no regions.
  const cv::Mat away = (cv::Mat_<double>(3, 3) << 1, 0, 100, 0, 1, 0, 0, 0, 1);
  const ChangeMap none = ScoreDeep(q, r, RegistrationFromHomography(away, grid, grid), options);
  ASSERT_EQ(none.valid.size(), grid);
  EXPECT_EQ(cv::countNonZero(none.valid), 0);
  EXPECT_EQ(cv::countNonZero(none.Score()), 0);
  EXPECT_TRUE(ExtractRegions(none, 0.1, DenseChangeOptions()).empty());

  REQUIRE_MODEL();
  spade::Backbone& backbone = SharedBackbone(kSize);
  EXPECT_THROW(ComputeDeepFeatures(backbone, cv::Mat()), vigil::Error);
  EXPECT_THROW(ComputeDeepFeatures(backbone, cv::Mat(kSize, CV_16U, cv::Scalar(3))), vigil::Error);
}

// --- With the shipped MobileNetV2 (skipped when ../shared/models lacks it). ---

TEST(DeepChange, IdenticalImagesScoreZero) {
  REQUIRE_MODEL();
  const cv::Mat image = Texture(kSize, 21);
  const ChangeMap map = Score(image, image);
  EXPECT_EQ(cv::countNonZero(map.valid), kSize.area());  // window clipped at the grid's edge
  EXPECT_LT(Max(map.Score(), map.valid), 0.01);  // float rounding only
  EXPECT_TRUE(ExtractRegions(map, 0.05, DenseChangeOptions()).empty());
  // The caller's image is left as it was (the blur works on a copy).
  EXPECT_EQ(cv::norm(image, Texture(kSize, 21), cv::NORM_INF), 0);
}

// A change: high "new" inside, low beyond the receptive-field margin, one region on it.
void ExpectFoundNew(const ChangeMap& map, const cv::Rect& change, double min_inside) {
  const cv::Mat inside = RectMask(kSize, change) & map.valid;
  EXPECT_GT(Quantile(map.new_score, inside, 0.1), min_inside);
  EXPECT_LT(Quantile(map.Score(), Outside(map, change, kMargin), 0.99), 0.15);
  const auto regions = ExtractRegions(map, 0.3, DenseChangeOptions());
  ASSERT_FALSE(regions.empty());
  const cv::Rect grown(change.x - kMargin, change.y - kMargin, change.width + 2 * kMargin,
                       change.height + 2 * kMargin);
  for (const DenseRegion& region : regions) EXPECT_EQ((region.bbox & grown), region.bbox);
  EXPECT_GT(cv::countNonZero(regions[0].mask(change)), 0.8 * change.area());
}

TEST(DeepChange, FlatBlobIsNew) {
  REQUIRE_MODEL();
  const cv::Mat reference = Texture(kSize, 22);
  cv::Mat query = reference.clone();
  query(kBlob).setTo(250);
  ExpectFoundNew(Score(query, reference), kBlob, 0.45);
}

TEST(DeepChange, PastedTexturedPatchIsNew) {
  REQUIRE_MODEL();
  const cv::Mat reference = Texture(kSize, 23);
  cv::Mat query = reference.clone();
  Texture(kBlob.size(), 99).copyTo(query(kBlob));  // same statistics, other content
  ExpectFoundNew(Score(query, reference), kBlob, 0.35);
}

TEST(DeepChange, RemovedTexturedRegionIsMissing) {
  REQUIRE_MODEL();
  cv::Mat reference(kSize, CV_8U, cv::Scalar(128));
  Texture(kBlob.size(), 24).copyTo(reference(kBlob));
  const cv::Mat query(kSize, CV_8U, cv::Scalar(128));  // the patch flattened away
  const ChangeMap map = Score(query, reference);
  const cv::Mat inside = RectMask(kSize, kBlob) & map.valid;
  EXPECT_GT(Quantile(map.missing_score, inside, 0.1), 0.6);
  EXPECT_LT(Quantile(map.Score(), Outside(map, kBlob, kMargin), 0.99), 0.15);
  const auto regions = ExtractRegions(map, 0.3, DenseChangeOptions());
  ASSERT_FALSE(regions.empty());
  // Near the patch's edge a flat query cell finds a flat reference cell in its window, so
  // "new" fades there while "missing" (a textured cell the flat query cannot explain) does not.
  EXPECT_EQ(regions[0].kind, "missing");
}

TEST(DeepChange, WholeCellShiftIsAbsorbedByTheWindow) {
  REQUIRE_MODEL();
  const cv::Mat reference = Texture(kSize, 25);
  const cv::Mat query = Shifted(reference, 4, 0);  // one stride-4 cell
  cv::Mat interior = cv::Mat::zeros(kSize, CV_8U);  // away from the reflected border
  interior(cv::Rect(kMargin, kMargin, kSize.width - 2 * kMargin, kSize.height - 2 * kMargin))
      .setTo(255);
  DeepChangeOptions options;
  options.taps = {"s4x"};
  options.window_cells = 0;
  const ChangeMap rigid = Score(query, reference, {}, options);
  options.window_cells = 1;
  const ChangeMap windowed = Score(query, reference, {}, options);
  EXPECT_GT(Quantile(rigid.Score(), interior, 0.5), 0.2);
  // A stride-4 network is equivariant to 4-pixel shifts: the window finds the very same cell.
  EXPECT_LT(Max(windowed.Score(), interior), 0.05);
}

TEST(DeepChange, TwoPixelShiftScoresFarBelowAChange) {
  REQUIRE_MODEL();
  const cv::Mat reference = Texture(kSize, 26);
  const ChangeMap shifted = Score(Shifted(reference, 2, 0), reference);
  cv::Mat query = reference.clone();
  query(kBlob).setTo(250);
  const ChangeMap changed = Score(query, reference);
  const double change = Quantile(changed.new_score, RectMask(kSize, kBlob), 0.1);
  // Half a stride-4 cell: not on the grid, so not absorbed exactly, but well below a change.
  EXPECT_LT(Quantile(shifted.Score(), shifted.valid, 0.99), 0.6 * change);
  EXPECT_TRUE(ExtractRegions(shifted, 0.4, DenseChangeOptions()).empty());
}

TEST(DeepChange, HomographyRegistrationFromAKnownWarp) {
  REQUIRE_MODEL();
  const cv::Mat reference = Texture(kSize, 27);
  // Query pixel -> reference pixel: 4 degrees and 5 % zoom about the centre, then (3, -2) px.
  const double a = 4 * CV_PI / 180, s = 1.05, cx = kSize.width / 2.0, cy = kSize.height / 2.0;
  const cv::Mat h = (cv::Mat_<double>(3, 3) << s * std::cos(a), -s * std::sin(a),
                     cx + 3 - s * (std::cos(a) * cx - std::sin(a) * cy), s * std::sin(a),
                     s * std::cos(a), cy - 2 - s * (std::sin(a) * cx + std::cos(a) * cy), 0, 0, 1);
  cv::Mat query;
  cv::warpPerspective(reference, query, h, kSize, cv::INTER_LINEAR | cv::WARP_INVERSE_MAP,
                      cv::BORDER_REFLECT);
  query(kBlob).setTo(250);
  const ChangeMap registered = Score(query, reference, h);
  const ChangeMap unregistered = Score(query, reference);
  const cv::Mat far = Outside(registered, kBlob, kMargin);
  const double change = Quantile(registered.new_score, RectMask(kSize, kBlob) & registered.valid, 0.1);
  EXPECT_GT(change, 0.45);
  // Features are not rotation invariant (4 degrees leave ~0.28 here), but far below the change
  // and far below the same pair left unregistered.
  const double background = Quantile(registered.Score(), far, 0.99);
  EXPECT_LT(background, 0.5 * change);
  EXPECT_GT(Quantile(unregistered.Score(), far & unregistered.valid, 0.99), 1.5 * background);
  // The corners the rotation brings in from outside the reference are invalid.
  EXPECT_EQ(registered.valid.at<uint8_t>(0, 0), 0);
  EXPECT_LT(cv::countNonZero(registered.valid), kSize.area());
}

TEST(DeepChange, QueryAndReferenceOfDifferentSizes) {
  REQUIRE_MODEL();
  // The query is the reference at 0.75 scale (an upscaled input for the backbone) with a blob.
  const cv::Mat reference = Texture({256, 224}, 28);
  cv::Mat query;
  cv::resize(reference, query, {192, 168}, 0, 0, cv::INTER_AREA);
  const cv::Rect blob(70, 60, 40, 36);
  query(blob).setTo(250);
  const cv::Mat h = (cv::Mat_<double>(3, 3) << 256.0 / 192, 0, (256.0 / 192 - 1) / 2, 0,
                     224.0 / 168, (224.0 / 168 - 1) / 2, 0, 0, 1);
  spade::Backbone bq(DeepBackboneOptions(ModelFile().string(), query.size(), DeepChangeOptions()));
  spade::Backbone br(
      DeepBackboneOptions(ModelFile().string(), reference.size(), DeepChangeOptions()));
  const ChangeMap map =
      ScoreDeep(ComputeDeepFeatures(bq, query), ComputeDeepFeatures(br, reference),
                RegistrationFromHomography(h, query.size(), reference.size()), DeepChangeOptions());
  ASSERT_EQ(map.valid.size(), query.size());
  cv::Mat inside = cv::Mat::zeros(query.size(), CV_8U);
  inside(blob).setTo(255);
  cv::Mat far = map.valid.clone();
  far(cv::Rect(blob.x - kMargin, blob.y - kMargin, blob.width + 2 * kMargin,
               blob.height + 2 * kMargin)).setTo(0);
  EXPECT_GT(Quantile(map.new_score, inside & map.valid, 0.1), 0.4);
  EXPECT_LT(Quantile(map.Score(), far, 0.99), 0.25);
}

}  // namespace
}  // namespace vigil::dense
