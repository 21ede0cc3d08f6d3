// SPADE / PatchCore end to end against the golden fixture (../shared/fixtures/spade, made with
// SPADE-pytorch on the brick textures) and on hand-made feature maps.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/spade/detector.h"
#include "vigil/spade/pipeline.h"
#include "vigil/spade/spade_test_util.h"
#include "vigil/util/check.h"
#include "vigil/util/options_fields.h"
#include "vigil/util/testing.h"

namespace vigil::spade {
namespace {
namespace fs = std::filesystem;
using testing::ErrorOf;

std::vector<std::string> ReadLines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

fs::path FixtureModel() { return testing::FixturesDir() / "spade" / "resnet18_random_taps.onnx"; }

BackboneOptions FixtureBackbone() {
  BackboneOptions options = BackbonePreset("resnet");
  options.model = FixtureModel().string();
  return options;
}

TEST(Spade, MatchesSpadePytorchFixture) {
  const fs::path dir = testing::FixturesDir() / "spade";
  const fs::path category = testing::DataDir() / "textures" / "brick";
  VIGIL_REQUIRE_FILE(dir / "spade_expected.yml.gz");
  VIGIL_REQUIRE_FILE(category);
  cv::FileStorage fs((dir / "spade_expected.yml.gz").string(), cv::FileStorage::READ);
  ASSERT_TRUE(fs.isOpened());
  cv::Mat expected_scores;
  fs["image_scores"] >> expected_scores;
  ASSERT_EQ(static_cast<int>(fs["K"]), 5);

  std::vector<fs::path> train;
  for (const std::string& rel : ReadLines(dir / "spade_train.txt")) train.push_back(category / rel);
  // Test paths are relative to the category's test/ folder, train paths to the category.
  const std::vector<std::string> tests = ReadLines(dir / "spade_tests.txt");
  ASSERT_EQ(train.size(), 30u);
  ASSERT_EQ(static_cast<int>(expected_scores.total()), static_cast<int>(tests.size()));

  Backbone backbone(FixtureBackbone());
  AnomalyDetectorOptions options;  // SPADE, K = 5, kappa = 1, sigma = 4
  const MemoryBank bank = FitMemoryBank(backbone, options, train, false, nullptr);
  const auto detector = AnomalyDetector::Create(options);
  double worst_map_error = 0, worst_score_error = 0;
  for (size_t i = 0; i < tests.size(); ++i) {
    SCOPED_TRACE(tests[i]);
    const AnomalyResult r = ScoreImageFile(backbone, *detector, bank, category / "test" / tests[i]);
    const float expected = expected_scores.at<float>(static_cast<int>(i));
    worst_score_error =
        std::max<double>(worst_score_error, std::abs(r.image_score - expected) / expected);
    EXPECT_NEAR(r.image_score, expected, 1e-4 * expected);
    if (i % 4 != 0) continue;
    cv::Mat expected_map, expected_neighbours;
    fs["score_map_" + std::to_string(i)] >> expected_map;
    fs["neighbours_" + std::to_string(i)] >> expected_neighbours;
    ASSERT_EQ(static_cast<int>(r.neighbours.size()), 5);
    for (int j = 0; j < 5; ++j) EXPECT_EQ(r.neighbours[j], expected_neighbours.at<int>(j));
    ASSERT_EQ(r.score_map.size(), expected_map.size());
    const double err = cv::norm(r.score_map, expected_map, cv::NORM_INF);
    worst_map_error = std::max(worst_map_error, err);
    EXPECT_LE(err, 1e-3);
  }
  std::printf("fixture: worst image-score relative error %.2e, worst map max-abs error %.2e\n",
              worst_score_error, worst_map_error);
}

// Every detector option is in the identity that --set, the bank's record and the report use:
// each field of AnomalyDetectorOptions changed alone gives a configuration no other change gives.
TEST(AnomalyDetectorOptions, EveryFieldChangesTheIdentity) {
  int fields = 0;
  const auto failing = testing::FieldsOutsideTheIdentity(
      AnomalyDetectorOptions{}, &fields, [](const std::string& path, nlohmann::json& leaf) {
        if (path != "method") return false;
        leaf = "patchcore";
        return true;
      });
  EXPECT_TRUE(failing.empty()) << fmt::format("{}", fmt::join(failing, ", "));
  EXPECT_EQ(fields, 14);  // method, 4 SPADE, 6 PatchCore, 3 kNN
  const nlohmann::json j = OptionsToJson(AnomalyDetectorOptions{});
  EXPECT_FALSE(j["patchcore"].contains("show_progress"));  // how to run, not what is computed
  AnomalyDetectorOptions set;
  SetOptionField(&set, "patchcore.seed=7");
  SetOptionField(&set, "spade.k=3");
  EXPECT_EQ(set.patchcore.seed, 7u);
  EXPECT_EQ(set.spade.k, 3);
}

// Each method's declared shorthands reach the field they name and no other; a name two methods
// share (--sigma) names the same field in each; fields fixed at fit time are left out for
// scoring, and are exactly PatchCore's bank-shaping ones.
TEST(AnomalyDetectorOptions, DeclaredShorthandsReachTheirOwnField) {
  std::multimap<std::string, std::string> declared;
  for (const PluginFlag& f : AnomalyDetectorPluginFlags(true)) {
    declared.emplace(f.name, f.path);
    EXPECT_EQ(f.path.substr(0, f.plugin.size() + 1), f.plugin + ".") << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
  }
  const std::multimap<std::string, std::string> expected = {
      {"top-k", "spade.k"},
      {"kappa", "spade.kappa"},
      {"concatenate-layers", "spade.concatenate_layers"},
      {"sigma", "spade.sigma"},
      {"sigma", "patchcore.sigma"},
      {"coreset-ratio", "patchcore.coreset_ratio"},
      {"projection-dim", "patchcore.projection_dim"},
      {"seed", "patchcore.seed"},
      {"patchcore-layers", "patchcore.layers"},
      {"reweight-neighbours", "patchcore.reweight_neighbours"},
  };
  EXPECT_EQ(declared, expected);
  auto leaves = [](const AnomalyDetectorOptions& o) {
    std::map<std::string, nlohmann::json> out;
    ForEachLeafField(o, [&](const std::string& path, const nlohmann::json& v) { out[path] = v; });
    return out;
  };
  for (const auto& [name, path] : declared) {
    AnomalyDetectorOptions options;
    const auto before = leaves(options);
    const nlohmann::json& old = before.at(path);
    const std::string value = old.is_boolean() ? "true" : old.is_array() ? "[2]" : "3";
    SetOptionField(&options, path + "=" + value, "--" + name);
    auto after = leaves(options);
    EXPECT_NE(after.at(path), old) << name;
    after[path] = old;
    EXPECT_EQ(after, before) << "--" << name << " changed another field";
  }
  std::set<std::string> scoring;
  for (const PluginFlag& f : AnomalyDetectorPluginFlags(false)) scoring.insert(f.path);
  for (const auto& [name, path] : declared) {
    EXPECT_EQ(scoring.count(path) == 0, IsFitTimeField(path)) << path;
  }
  EXPECT_TRUE(IsFitTimeField("patchcore.seed"));
  EXPECT_TRUE(IsFitTimeField("patchcore.layers"));
  EXPECT_FALSE(IsFitTimeField("patchcore.sigma"));
  EXPECT_FALSE(IsFitTimeField("spade.k"));
  EXPECT_FALSE(IsFitTimeField("knn.num_threads"));
}

// Only the running method's options are checked, as in the other plugin families (a front end
// refuses the other method's shorthands instead).
TEST(AnomalyDetectorOptions, ChecksOnlyTheRunningMethod) {
  AnomalyDetectorOptions options;
  options.patchcore.coreset_ratio = 5;
  EXPECT_NO_THROW(options.Check());
  options.method = "patchcore";
  EXPECT_NE(ErrorOf([&] { options.Check(); }).find("coreset_ratio"), std::string::npos);
  options.method = "padim";
  EXPECT_NE(ErrorOf([&] { options.Check(); }).find("padim"), std::string::npos);
}

// PyTorch F.interpolate(bilinear, align_corners=False) of [[1,2],[3,4]] to 4x4, row 0 and 1.
TEST(Spade, ResizeBilinearMatchesPytorchConvention) {
  const float src[4] = {1, 2, 3, 4};
  const std::vector<float> out = ResizeBilinear(src, 2, 2, 1, 4, 4);
  const float row0[4] = {1.f, 1.25f, 1.75f, 2.f};
  const float row1[4] = {1.5f, 1.75f, 2.25f, 2.5f};
  for (int x = 0; x < 4; ++x) {
    EXPECT_FLOAT_EQ(out[x], row0[x]);
    EXPECT_FLOAT_EQ(out[4 + x], row1[x]);
  }
}

TEST(Spade, GaussianSmoothPreservesMassAndConstants) {
  cv::Mat constant(40, 50, CV_32F, cv::Scalar(3.f));
  GaussianSmooth(constant, 4);
  double lo, hi;
  cv::minMaxLoc(constant, &lo, &hi);
  EXPECT_NEAR(lo, 3.0, 1e-5);
  EXPECT_NEAR(hi, 3.0, 1e-5);
  cv::Mat impulse = cv::Mat::zeros(64, 64, CV_32F);
  impulse.at<float>(32, 32) = 1.f;
  GaussianSmooth(impulse, 2);
  EXPECT_NEAR(cv::sum(impulse)[0], 1.0, 1e-6);
  // 1-D Gaussian weight at 0 for sigma 2 (normalised over radius 8), squared for 2-D.
  double norm = 0;
  for (int i = -8; i <= 8; ++i) norm += std::exp(-0.5 * i * i / 4.0);
  EXPECT_NEAR(impulse.at<float>(32, 32), 1.0 / (norm * norm), 1e-6);
}

// Random pixel-major features: layer 0 at 4x4 x 3, layer 1 at 2x2 x 2, pooled 3-d.
BackboneOutput RandomPyramid(std::mt19937& rng) {
  std::normal_distribution<float> normal(0.f, 1.f);
  BackboneOutput out;
  const int shapes[2][3] = {{3, 4, 4}, {2, 2, 2}};
  for (const auto& shape : shapes) {
    FeatureMap m;
    m.channels = shape[0];
    m.height = shape[1];
    m.width = shape[2];
    m.data.resize(static_cast<size_t>(shape[0]) * shape[1] * shape[2]);
    for (float& v : m.data) v = normal(rng);
    out.pyramid.push_back(m);
  }
  out.pooled = {normal(rng), normal(rng), normal(rng)};
  return out;
}

// Mean of the kappa smallest distances from `q` to the rows of `gallery`.
float MeanOfNearest(const float* q, const std::vector<float>& gallery, int dim, int kappa) {
  std::vector<float> d;
  for (size_t j = 0; j < gallery.size() / dim; ++j)
    d.push_back(L2Distance(q, &gallery[j * dim], dim));
  std::sort(d.begin(), d.end());
  return std::accumulate(d.begin(), d.begin() + kappa, 0.f) / static_cast<float>(kappa);
}

// SPADE's per-layer and concatenated variants against a brute-force restatement of the
// algorithm on hand-made features (no smoothing, map at the first layer's 4x4 resolution).
TEST(Spade, PerLayerAndConcatenatedMatchBruteForce) {
  std::mt19937 rng(21);
  std::vector<BackboneOutput> train;
  for (int i = 0; i < 6; ++i) train.push_back(RandomPyramid(rng));
  const BackboneOutput query = RandomPyramid(rng);
  MemoryBank bank;
  bank.method = "spade";
  bank.preprocessing.pyramid_taps = {"a", "b"};
  bank.preprocessing.input_width = 4;
  bank.preprocessing.input_height = 4;
  AnomalyDetectorOptions options;
  options.spade.k = 2;
  options.spade.kappa = 3;
  options.spade.sigma = 0;
  AnomalyDetector::Create(options)->Fit(train, bank, nullptr);

  // Image level: the 2 nearest train images on the pooled vector.
  std::vector<std::pair<float, int>> image_d;
  for (int i = 0; i < 6; ++i)
    image_d.push_back({L2Distance(query.pooled.data(), train[i].pooled.data(), 3), i});
  std::sort(image_d.begin(), image_d.end());
  const std::vector<int> nearest = {image_d[0].second, image_d[1].second};

  for (bool concatenate : {false, true}) {
    SCOPED_TRACE(concatenate ? "concatenated" : "per layer");
    options.spade.concatenate_layers = concatenate;
    const AnomalyResult r = AnomalyDetector::Create(options)->Score(query, bank);
    EXPECT_EQ(r.neighbours, nearest);
    EXPECT_NEAR(r.image_score, (image_d[0].first + image_d[1].first) / 2, 1e-6);
    // Layer 1 upsampled to 4x4, per image.
    auto up = [](const BackboneOutput& o) {
      return ResizeBilinear(o.pyramid[1].data.data(), 2, 2, 2, 4, 4);
    };
    std::vector<float> expected(16);
    if (!concatenate) {
      std::vector<float> g0, g1;
      for (int n : nearest) {
        g0.insert(g0.end(), train[n].pyramid[0].data.begin(), train[n].pyramid[0].data.end());
        g1.insert(g1.end(), train[n].pyramid[1].data.begin(), train[n].pyramid[1].data.end());
      }
      std::vector<float> map1(4);
      for (int p = 0; p < 4; ++p) map1[p] = MeanOfNearest(&query.pyramid[1].data[p * 2], g1, 2, 3);
      const std::vector<float> map1_up = ResizeBilinear(map1.data(), 2, 2, 1, 4, 4);
      for (int p = 0; p < 16; ++p) {
        expected[p] = (MeanOfNearest(&query.pyramid[0].data[p * 3], g0, 3, 3) + map1_up[p]) / 2;
      }
    } else {
      auto concat = [&](const BackboneOutput& o) {
        const std::vector<float> u = up(o);
        std::vector<float> c;
        for (int p = 0; p < 16; ++p) {
          c.insert(c.end(), &o.pyramid[0].data[p * 3], &o.pyramid[0].data[p * 3] + 3);
          c.insert(c.end(), &u[p * 2], &u[p * 2] + 2);
        }
        return c;
      };
      std::vector<float> g;
      for (int n : nearest) {
        const auto c = concat(train[n]);
        g.insert(g.end(), c.begin(), c.end());
      }
      const std::vector<float> q = concat(query);
      for (int p = 0; p < 16; ++p) expected[p] = MeanOfNearest(&q[p * 5], g, 5, 3);
    }
    ASSERT_EQ(r.score_map.total(), 16u);
    for (int p = 0; p < 16; ++p) EXPECT_NEAR(r.score_map.ptr<float>()[p], expected[p], 1e-5) << p;
  }
}

// Hand-made features: with all patches kept, PatchCore's patch score is the brute-force
// distance to the nearest train patch, and a train image scores 0.
TEST(PatchCore, PatchScoresAreNearestTrainPatchDistances) {
  const int h = 6, w = 5, c = 4;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.f, 1.f);
  auto random_output = [&] {
    BackboneOutput out;
    for (int l = 0; l < 2; ++l) {
      FeatureMap m;
      m.channels = c;
      m.height = h;
      m.width = w;
      m.data.resize(static_cast<size_t>(h) * w * c);
      for (float& v : m.data) v = normal(rng);
      out.pyramid.push_back(m);
    }
    out.pooled = {0.f};
    return out;
  };
  std::vector<BackboneOutput> train;
  for (int i = 0; i < 3; ++i) train.push_back(random_output());
  const std::vector<BackboneOutput> train_copy = train;
  MemoryBank bank;
  bank.method = "patchcore";
  bank.preprocessing.pyramid_taps = {"a", "b"};
  bank.preprocessing.input_width = w;
  bank.preprocessing.input_height = h;
  AnomalyDetectorOptions options;
  options.method = "patchcore";
  options.patchcore.layers = {0, 1};
  options.patchcore.coreset_ratio = 1.0;
  options.patchcore.sigma = 0;  // compare raw patch scores
  const auto detector = AnomalyDetector::Create(options);
  detector->Fit(train, bank, nullptr);
  ASSERT_EQ(bank.Get("patchcore:bank").shape, (std::vector<int64_t>{3 * h * w, 2 * c}));

  const AnomalyResult same = detector->Score(train_copy[1], bank);
  EXPECT_NEAR(cv::norm(same.score_map, cv::NORM_INF), 0.0, 1e-5);
  EXPECT_NEAR(same.image_score, 0.f, 1e-5);

  const BackboneOutput query = random_output();
  const AnomalyResult r = detector->Score(query, bank);
  // Brute force: the bank holds every train patch, so score = min over them.
  const BankArray& memory = bank.Get("patchcore:bank");
  const int64_t m = memory.shape[0];
  // Rebuild the query's patch features through a one-image fit with ratio 1.
  MemoryBank query_bank = bank;
  query_bank.arrays.clear();
  detector->Fit({query}, query_bank, nullptr);
  const BankArray& q = query_bank.Get("patchcore:bank");
  ASSERT_EQ(q.shape[0], h * w);
  // The coreset reorders patches; match each query patch through its own feature.
  float max_score = 0;
  for (int64_t p = 0; p < h * w; ++p) {
    float best = INFINITY;
    for (int64_t j = 0; j < m; ++j) {
      best = std::min(best,
                      L2Distance(q.data.data() + p * 2 * c, memory.data.data() + j * 2 * c, 2 * c));
    }
    max_score = std::max(max_score, best);
  }
  double lo, hi;
  cv::minMaxLoc(r.score_map, &lo, &hi);
  EXPECT_NEAR(hi, max_score, 1e-4);
  // Reweighting scales the max patch score by a factor in (0, 1].
  EXPECT_GT(r.image_score, 0.f);
  EXPECT_LE(r.image_score, max_score + 1e-6);
}

TEST(Backbone, RejectsMissingTapSmallImagesAndBadModels) {
  VIGIL_REQUIRE_FILE(FixtureModel());
  BackboneOptions options = FixtureBackbone();
  options.pyramid_taps = {"layer1", "layer9"};
  const std::string e1 = ErrorOf([&] { Backbone b(options); });
  EXPECT_NE(e1.find("no usable output 'layer9'"), std::string::npos) << e1;

  Backbone backbone(FixtureBackbone());
  EXPECT_EQ(backbone.pyramid_shapes()[0], (std::array<int, 3>{64, 56, 56}));
  EXPECT_EQ(backbone.pooled_dim(), 256);
  // Smaller images are resized up to the input like any other; empty ones are refused by name.
  const BackboneOutput small =
      backbone.Run(cv::Mat(100, 300, CV_8UC3, cv::Scalar(10, 100, 200)), "small.png");
  EXPECT_EQ(small.pyramid[0].height, 56);
  EXPECT_EQ(small.pyramid[0].width, 56);
  const std::string e2 = ErrorOf([&] { backbone.Run(cv::Mat(), "empty.png"); });
  EXPECT_NE(e2.find("empty.png: empty image"), std::string::npos) << e2;

  const fs::path bogus = testing::MakeTempDir("backbone") / "bogus.onnx";
  std::ofstream(bogus) << "not a model";
  BackboneOptions bad = FixtureBackbone();
  bad.model = bogus.string();
  EXPECT_NE(ErrorOf([&] { Backbone b(bad); }).find("bogus.onnx: cannot load as ONNX"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { BackbonePreset("vgg"); }).find("unknown backbone preset 'vgg'"),
            std::string::npos);
}

// Each axis is shrunk by area averaging and grown bilinearly: a constant image stays constant,
// and a 2:1 shrink of a vertical 0/200 stripe pattern (period 2) averages each pair to 100.
TEST(Backbone, ResizeToModelInputAveragesWhereItShrinksAndGrowsElsewhere) {
  const cv::Mat constant(200, 300, CV_8UC3, cv::Scalar(7, 77, 177));
  const cv::Mat c = ResizeToModelInput(constant, {224, 224});
  ASSERT_EQ(c.size(), cv::Size(224, 224));
  EXPECT_EQ(cv::norm(c, cv::Mat(224, 224, CV_8UC3, cv::Scalar(7, 77, 177)), cv::NORM_INF), 0);
  cv::Mat stripes(100, 448, CV_8UC1);
  for (int x = 0; x < 448; ++x) stripes.col(x).setTo(x % 2 == 0 ? 0 : 200);
  const cv::Mat s = ResizeToModelInput(stripes, {224, 224});  // x shrinks 2:1, y grows 2.24x
  ASSERT_EQ(s.size(), cv::Size(224, 224));
  double lo, hi;
  cv::minMaxLoc(s, &lo, &hi);
  EXPECT_EQ(lo, 100);
  EXPECT_EQ(hi, 100);
}

using testing_util::Texture;  // spade_test_util.h

// A folder of mixed sizes and orientations (300x200, 200x300, 256x256) trains and scores with
// no resizing by hand: each score map has its image's own size, its maximum lies inside the
// synthetic defect (a bright disc drawn at a known place), and with the image score taken at
// the model resolution every defective image outscores every clean one whatever its shape.
TEST(Spade, MixedSizeFolderGivesMapsAtEachImageSizeAndFindsTheDefect) {
  VIGIL_REQUIRE_FILE(FixtureModel());
  const fs::path dir = testing::MakeTempDir("spade_mixed");
  const std::vector<cv::Size> sizes = {{300, 200}, {200, 300}, {256, 256}};
  fs::create_directories(dir / "train");
  uint64_t seed = 1;
  for (int copy = 0; copy < 2; ++copy) {
    for (const cv::Size& size : sizes) {
      io::WriteImage(dir / "train" / fmt::format("t{}_{}x{}.png", copy, size.width, size.height),
                     Texture(size, seed++));
    }
  }
  struct Test {
    fs::path path;
    cv::Point centre;  // of the defect, image pixels
    int radius = 0;    // 0: a clean image
  };
  std::vector<Test> tests;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const cv::Size size = sizes[i];
    cv::Mat clean = Texture(size, 100 + i), defect = Texture(size, 200 + i);
    // Different places per image, away from the border.
    const cv::Point centre(size.width * (i + 1) / 4, size.height * (3 - i) / 4);
    const int radius = 16;
    cv::circle(defect, centre, radius, cv::Scalar::all(255), cv::FILLED);
    tests.push_back({dir / fmt::format("clean_{}.png", i), {}, 0});
    io::WriteImage(tests.back().path, clean);
    tests.push_back({dir / fmt::format("defect_{}.png", i), centre, radius});
    io::WriteImage(tests.back().path, defect);
  }

  Backbone backbone(FixtureBackbone());
  const std::vector<fs::path> train = ListTrainImages(dir / "train");
  ASSERT_EQ(train.size(), 6u);
  for (const std::string method : {"spade", "patchcore"}) {
    SCOPED_TRACE(method);
    AnomalyDetectorOptions options;
    options.method = method;
    options.spade.k = 2;
    options.patchcore.coreset_ratio = 0.25;
    const MemoryBank bank = FitMemoryBank(backbone, options, train, false, nullptr);
    const auto detector = AnomalyDetector::Create(options);
    float worst_defect = std::numeric_limits<float>::infinity(), best_clean = 0;
    for (const Test& test : tests) {
      SCOPED_TRACE(test.path.filename().string());
      const cv::Mat image = io::ReadImage(test.path);
      const AnomalyResult r = ScoreImageFile(backbone, *detector, bank, test.path);
      ASSERT_EQ(r.score_map.size(), image.size());
      ASSERT_TRUE(std::isfinite(r.image_score));
      if (test.radius == 0) {
        best_clean = std::max(best_clean, r.image_score);
        continue;
      }
      worst_defect = std::min(worst_defect, r.image_score);
      cv::Point peak;
      cv::minMaxLoc(r.score_map, nullptr, nullptr, nullptr, &peak);
      EXPECT_LE(cv::norm(peak - test.centre), test.radius)
          << "peak at " << peak << ", defect at " << test.centre;
    }
    if (method == "patchcore") {
      // SPADE's image score is the pooled vector's kNN distance, which a 16 px disc barely moves
      // on random features; PatchCore's is the worst patch, which the disc sets.
      EXPECT_GT(worst_defect, best_clean);
      // Unreadable files are refused by name.
      std::ofstream(dir / "broken.png") << "not an image";
      const std::string e =
          ErrorOf([&] { ScoreImageFile(backbone, *detector, bank, dir / "broken.png"); });
      EXPECT_NE(e.find("broken.png: cannot read image"), std::string::npos) << e;
    }
  }
}

TEST(Backbone, AspectPreservingInputKeepsTheShorterSideAndTheImageShape) {
  const cv::Size square(224, 224);
  EXPECT_EQ(AspectPreservingInput(square, {1024, 1024}), square);
  EXPECT_EQ(AspectPreservingInput(square, {1000, 950}), square);  // within 10 %
  // KolektorSDD: 500x1250 (W x H): width 224, height 224 * 2.5 = 560 -> 576 (a multiple of 32).
  EXPECT_EQ(AspectPreservingInput(square, {500, 1250}), cv::Size(224, 576));
  EXPECT_EQ(AspectPreservingInput(square, {1250, 500}), cv::Size(576, 224));
  EXPECT_EQ(AspectPreservingInput(square, {640, 480}), cv::Size(288, 224));  // 298.7 -> 288
  // 230x2000: 1947.8 rounds to 1952.
  EXPECT_EQ(AspectPreservingInput(square, {230, 2000}), cv::Size(224, 1952));
  // Never beyond the image: for 224x2000, 2000 would round up to 2016; 1984 fits.
  EXPECT_EQ(AspectPreservingInput(square, {224, 2000}), cv::Size(224, 1984));
  EXPECT_EQ(AspectPreservingInput(square, {300, 400}, 0.5), square);  // looser tolerance
}

TEST(Backbone, RunsAtATallInputAndPoolsOverIt) {
  VIGIL_REQUIRE_FILE(FixtureModel());
  BackboneOptions options = FixtureBackbone();
  options.input_width = 224;
  options.input_height = 576;
  Backbone backbone(options);
  EXPECT_EQ(backbone.pyramid_shapes()[0], (std::array<int, 3>{64, 144, 56}));
  EXPECT_EQ(backbone.pyramid_shapes()[2], (std::array<int, 3>{256, 36, 14}));
  EXPECT_EQ(backbone.pooled_dim(), 256);
  cv::Mat image(1250, 500, CV_8UC3);
  cv::randu(image, cv::Scalar::all(0), cv::Scalar::all(255));
  const BackboneOutput out = backbone.Run(image, "tall.png");
  ASSERT_EQ(out.pooled.size(), 256u);
  // The fixture's avgpool is the mean of layer3: over the whole tall map, not a 224x224 part.
  const FeatureMap& layer3 = out.pyramid[2];
  for (int c = 0; c < 256; c += 37) {
    double sum = 0;
    for (int y = 0; y < layer3.height; ++y) {
      for (int x = 0; x < layer3.width; ++x) sum += layer3.pixel(y, x)[c];
    }
    EXPECT_NEAR(out.pooled[c], sum / (layer3.height * layer3.width), 1e-4 * (1 + std::abs(sum)))
        << "channel " << c;
  }
}

TEST(Backbone, MobileNetV2RunsAtATallInput) {
  const fs::path model = testing::ModelsDir() / "mobilenet_v2" / "mobilenet_v2_1.0_224_spade.onnx";
  VIGIL_REQUIRE_FILE(model);
  BackboneOptions options = BackbonePreset("mobilenet-v2");
  options.model = model.string();
  const int pooled_at_224 = Backbone(options).pooled_dim();
  options.input_height = 576;
  Backbone tall(options);
  EXPECT_EQ(tall.pooled_dim(), pooled_at_224);
  EXPECT_EQ(tall.pyramid_shapes()[0][1], 144);  // s4x: 576 / 4
  cv::Mat image(1250, 500, CV_8UC3, cv::Scalar(90, 120, 150));
  const BackboneOutput out = tall.Run(image, "tall.png");
  EXPECT_EQ(static_cast<int>(out.pooled.size()), pooled_at_224);
  for (float v : out.pooled) ASSERT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace vigil::spade
