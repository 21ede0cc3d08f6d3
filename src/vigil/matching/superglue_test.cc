#include "vigil/matching/superglue.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>

#include "vigil/matching/attention.h"
#include "vigil/matching/glue_test_util.h"
#include "vigil/util/check.h"

namespace vigil {
namespace {

using glue_testing::FloatVector;
using glue_testing::IntVector;
using glue_testing::LoadPairInputs;
using glue_testing::ReadMat;

std::filesystem::path WeightsPath() {
  return testing::FixturesDir() / "superglue/superglue_random_legacy.pth";
}

// The fixture network (4 layers), loaded once for the whole test binary.
const SuperGlueNetwork& FixtureNetwork() {
  static const auto network = std::make_unique<SuperGlueNetwork>(
      io::LoadTorchCheckpoint(WeightsPath()), SuperGlueOptions{}, 2);
  return *network;
}

class SuperGlueFixture : public ::testing::TestWithParam<std::string> {};

// matches0/1 identical, matching scores within 1e-4, the stored 256 x 256 block of the
// (N+1) x (N+1) log assignment and both dustbins within 1e-3 (issue 5 acceptance).
TEST_P(SuperGlueFixture, MatchesReference) {
  const std::string pair = GetParam();
  const auto expected_path = testing::FixturesDir() / "superglue" / (pair + ".yml.gz");
  VIGIL_REQUIRE_FILE(WeightsPath());
  VIGIL_REQUIRE_FILE(expected_path);
  const auto in = LoadPairInputs(pair);
  const SuperGlueOutput out = FixtureNetwork().Run(in.features0, in.features1);
  cv::FileStorage fs(expected_path.string(), cv::FileStorage::READ);

  EXPECT_EQ(out.matches.matches0, IntVector(ReadMat(fs, "matches0")));
  EXPECT_EQ(out.matches.matches1, IntVector(ReadMat(fs, "matches1")));
  const auto scores0 = FloatVector(ReadMat(fs, "matching_scores0"));
  const auto scores1 = FloatVector(ReadMat(fs, "matching_scores1"));
  ASSERT_EQ(out.scores0.size(), scores0.size());
  ASSERT_EQ(out.scores1.size(), scores1.size());
  for (size_t i = 0; i < scores0.size(); ++i) EXPECT_NEAR(out.scores0[i], scores0[i], 1e-4) << i;
  for (size_t j = 0; j < scores1.size(); ++j) EXPECT_NEAR(out.scores1[j], scores1[j], 1e-4) << j;
  for (size_t i = 0; i < scores0.size(); ++i) {
    // The thresholded confidence is the reference score where matched, 0 elsewhere.
    const float want = out.matches.matches0[i] >= 0 ? scores0[i] : 0.f;
    EXPECT_NEAR(out.matches.confidence0[i], want, 1e-4) << i;
  }

  glue_testing::ExpectLogAssignmentMatches(out.log_assignment, in.features0.size(),
                                           in.features1.size(), fs);
  EXPECT_GT(out.matches.timings_ms.count("superglue.gnn"), 0u);
}

INSTANTIATE_TEST_SUITE_P(FixturePairs, SuperGlueFixture,
                         ::testing::ValuesIn(glue_testing::FixturePairs()));

// Reports precision/recall on the synthetic pair (600 true correspondences). The weights are
// random, so no quality bar: the check is that ours equal the reference's numbers.
TEST(SuperGlue, ReportsPrecisionRecallOnSynthPair) {
  const auto expected_path = testing::FixturesDir() / "superglue/synth0_synth1.yml.gz";
  VIGIL_REQUIRE_FILE(WeightsPath());
  VIGIL_REQUIRE_FILE(expected_path);
  const auto in = LoadPairInputs("synth0_synth1");
  const auto out = FixtureNetwork().Run(in.features0, in.features1);
  cv::FileStorage fs(expected_path.string(), cv::FileStorage::READ);
  const auto ours = glue_testing::Score(out.matches.matches0, in.gt_matches0);
  const auto reference = glue_testing::Score(IntVector(ReadMat(fs, "matches0")), in.gt_matches0);
  std::printf("[ superglue synth0_synth1 ] precision %.4f recall %.4f (%d/%d correct, %d true)\n",
              ours.precision, ours.recall, ours.correct, ours.predicted, ours.positives);
  RecordProperty("precision", std::to_string(ours.precision));
  RecordProperty("recall", std::to_string(ours.recall));
  EXPECT_EQ(ours.correct, reference.correct);
  EXPECT_EQ(ours.predicted, reference.predicted);
}

// The comparison on the synthetic pair (600 known correspondences, 424 distractors):
// precision / recall of all three matchers with their default settings. The learned matchers
// use the random fixture weights, so their numbers say nothing about the trained models.
TEST(MatcherComparison, PrecisionRecallOnSynthPair) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  const auto lightglue_weights = testing::FixturesDir() / "lightglue/lightglue_random_zip.pth";
  VIGIL_REQUIRE_FILE(lightglue_weights);
  const auto in = LoadPairInputs("synth0_synth1");
  for (const std::string type : {"nn", "superglue", "lightglue"}) {
    MatcherOptions options;
    options.type = type;
    options.superglue.weights = WeightsPath().string();
    options.lightglue.weights = lightglue_weights.string();
    const Matches m = Matcher::Create(options)->Match(in.features0, in.features1);
    const auto pr = glue_testing::Score(m.matches0, in.gt_matches0);
    std::printf("[ %-9s synth0_synth1 ] precision %.4f recall %.4f (%d correct of %d, %d true)\n",
                type.c_str(), pr.precision, pr.recall, pr.correct, pr.predicted, pr.positives);
    RecordProperty(type + "_precision", std::to_string(pr.precision));
    RecordProperty(type + "_recall", std::to_string(pr.recall));
    EXPECT_EQ(pr.positives, 600);
    // Consistency of the two directions for every matcher.
    for (size_t i = 0; i < m.matches0.size(); ++i) {
      if (m.matches0[i] >= 0) EXPECT_EQ(m.matches1[m.matches0[i]], static_cast<int>(i));
    }
  }
}

TEST(SuperGlue, ReadsLayerCountAndSizesFromCheckpoint) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  EXPECT_EQ(FixtureNetwork().num_layers(), 4);
  EXPECT_EQ(FixtureNetwork().descriptor_dim(), 256);
}

TEST(SuperGlue, EmptyAndTinyInputsDoNotCrash) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  const auto& net = FixtureNetwork();
  const Features none = glue_testing::RandomFeatures(0, 256, 1);
  const Features one = glue_testing::RandomFeatures(1, 256, 2);
  const Features many = glue_testing::RandomFeatures(300, 256, 3);
  for (const auto& [a, b] : {std::pair{&none, &none}, {&none, &many}, {&many, &none}}) {
    const auto out = net.Run(*a, *b);
    EXPECT_EQ(out.matches.matches0, std::vector<int>(a->size(), -1));
    EXPECT_EQ(out.matches.matches1, std::vector<int>(b->size(), -1));
    EXPECT_EQ(out.matches.num_matches(), 0);
  }
  // One keypoint against many: at most one match, scores in [0, 1], finite log assignment.
  for (const auto& [a, b] : {std::pair{&one, &many}, {&many, &one}, {&one, &one}}) {
    const auto out = net.Run(*a, *b);
    ASSERT_EQ(out.matches.matches0.size(), static_cast<size_t>(a->size()));
    EXPECT_LE(out.matches.num_matches(), 1);
    for (float c : out.matches.confidence0) EXPECT_TRUE(c >= 0.f && c <= 1.f);
    for (float z : out.log_assignment) ASSERT_TRUE(std::isfinite(z));
  }
}

// 4000 keypoints (the CLI's largest usual setting) against a smaller image; fewer Sinkhorn
// iterations keep the test fast, the layers run in full.
TEST(SuperGlue, FourThousandKeypoints) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  SuperGlueOptions options;
  options.sinkhorn_iterations = 10;
  const SuperGlueNetwork net(io::LoadTorchCheckpoint(WeightsPath()), options, 2);
  const Features big = glue_testing::RandomFeatures(4000, 256, 4);
  const Features small = glue_testing::RandomFeatures(400, 256, 5);
  const auto out = net.Run(big, small);
  ASSERT_EQ(out.matches.matches0.size(), 4000u);
  ASSERT_EQ(out.matches.matches1.size(), 400u);
  for (size_t i = 0; i < out.matches.matches0.size(); ++i) {
    const int j = out.matches.matches0[i];
    if (j >= 0) EXPECT_EQ(out.matches.matches1[j], static_cast<int>(i));
  }
  for (float z : out.log_assignment) ASSERT_TRUE(std::isfinite(z));
}

// Splitting rows/columns over threads must not change the result beyond summation order.
TEST(SuperGlue, ThreadCountDoesNotChangeResult) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  const auto weights = io::LoadTorchCheckpoint(WeightsPath());
  const Features a = glue_testing::RandomFeatures(333, 256, 20);
  const Features b = glue_testing::RandomFeatures(271, 256, 21);
  const auto one = SuperGlueNetwork(weights, SuperGlueOptions{}, 1).Run(a, b);
  const auto three = SuperGlueNetwork(weights, SuperGlueOptions{}, 3).Run(a, b);
  glue_testing::ExpectSameOutput(one, three);
}

TEST(SuperGlue, WrongDescriptorSizeIsOneClearError) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  const Features f128 = glue_testing::RandomFeatures(10, 128, 6);
  try {
    FixtureNetwork().Run(f128, f128);
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expect 256-d"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("gives 128-d"), std::string::npos) << e.what();
  }
}

TEST(SuperGlue, MissingImageSizeIsAnError) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  Features f = glue_testing::RandomFeatures(10, 256, 7);
  f.image_width = 0;
  EXPECT_THROW(FixtureNetwork().Run(f, f), Error);
}

TEST(SuperGlue, FactoryLoadsExplicitWeightsAndReportsMissingOnes) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  MatcherOptions options;
  options.type = "superglue";
  options.superglue.weights = WeightsPath().string();
  const auto matcher = Matcher::Create(options);
  EXPECT_EQ(matcher->name(), "superglue");
  const auto in = LoadPairInputs("freiburg0_freiburg0s");
  const Matches m = matcher->Match(in.features0, in.features1);
  const auto direct = FixtureNetwork().Run(in.features0, in.features1);
  EXPECT_EQ(m.matches0, direct.matches.matches0);
  // FilterMatchesByConfidence(Match(t = 0), t) == Match(t), the contract of matcher.h.
  options.superglue.match_threshold = 0.f;
  const Matches all = Matcher::Create(options)->Match(in.features0, in.features1);
  EXPECT_EQ(FilterMatchesByConfidence(all, 0.2f).matches0, m.matches0);

  options.superglue.weights = "/nonexistent/superglue_indoor.pth";
  EXPECT_THROW(Matcher::Create(options), Error);
}

// Log-domain Sinkhorn against its definition: after convergence the row / column
// log-sum-exps of the result equal the log marginals.
TEST(SuperGlue, LogSinkhornReachesMarginals) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.f, 3.f);
  const int rows = 37, cols = 53;
  std::vector<float> z(rows * cols);
  for (float& v : z) v = normal(rng);
  std::vector<float> log_mu(rows, -std::log(float(rows))), log_nu(cols, -std::log(float(cols)));
  glue::LogSinkhorn(z.data(), rows, cols, log_mu.data(), log_nu.data(), 500, 2);
  for (int i = 0; i < rows; ++i) {
    double sum = 0;
    for (int j = 0; j < cols; ++j) sum += std::exp(double(z[i * cols + j]));
    EXPECT_NEAR(std::log(sum), log_mu[i], 1e-4) << "row " << i;
  }
  for (int j = 0; j < cols; ++j) {
    double sum = 0;
    for (int i = 0; i < rows; ++i) sum += std::exp(double(z[i * cols + j]));
    EXPECT_NEAR(std::log(sum), log_nu[j], 1e-4) << "col " << j;
  }
}

// The bounded single-pass Sinkhorn against a plain double-precision log-domain version, on a
// matrix with a wide dynamic range (so some rows/columns take the exact fallback).
TEST(SuperGlue, LogSinkhornMatchesPlainDoubleVersion) {
  std::mt19937 rng(8);
  std::normal_distribution<float> normal(0.f, 1.f);
  const int rows = 61, cols = 45, iterations = 30;
  std::vector<float> z(rows * cols);
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) z[i * cols + j] = 8.f * normal(rng) + (i % 7 == 0 ? -150.f : 0.f);
  }
  std::vector<float> log_mu(rows), log_nu(cols);
  for (int i = 0; i < rows; ++i) log_mu[i] = -std::log(float(rows)) + 0.1f * (i % 3);
  for (int j = 0; j < cols; ++j) log_nu[j] = -std::log(float(cols)) - 0.05f * (j % 4);
  std::vector<double> u(rows, 0), v(cols, 0);
  for (int it = 0; it < iterations; ++it) {
    for (int i = 0; i < rows; ++i) {
      double max = -1e300, sum = 0;
      for (int j = 0; j < cols; ++j) max = std::max(max, double(z[i * cols + j]) + v[j]);
      for (int j = 0; j < cols; ++j) sum += std::exp(z[i * cols + j] + v[j] - max);
      u[i] = log_mu[i] - (max + std::log(sum));
    }
    for (int j = 0; j < cols; ++j) {
      double max = -1e300, sum = 0;
      for (int i = 0; i < rows; ++i) max = std::max(max, double(z[i * cols + j]) + u[i]);
      for (int i = 0; i < rows; ++i) sum += std::exp(z[i * cols + j] + u[i] - max);
      v[j] = log_nu[j] - (max + std::log(sum));
    }
  }
  std::vector<float> ours = z;
  glue::LogSinkhorn(ours.data(), rows, cols, log_mu.data(), log_nu.data(), iterations, 2);
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      ASSERT_NEAR(ours[i * cols + j], z[i * cols + j] + u[i] + v[j], 1e-3) << i << " " << j;
    }
  }
}

// The attention kernel (blocked, threaded) against a plain triple loop.
TEST(SuperGlue, MultiHeadAttentionMatchesNaiveLoops) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  const int n = 300, m = 170, heads = 4, dh = 8, d = heads * dh;
  std::vector<float> q(n * d), k(m * d), v(m * d), out(n * d);
  for (auto* t : {&q, &k, &v}) {
    for (float& x : *t) x = normal(rng);
  }
  glue::MultiHeadAttention(q.data(), d, k.data(), d, v.data(), d, n, m, heads, dh, 0.5f,
                           out.data(), d, 2);
  for (int h = 0; h < heads; ++h) {
    for (int i = 0; i < n; ++i) {
      std::vector<double> p(m);
      double max = -1e30, sum = 0;
      for (int j = 0; j < m; ++j) {
        double s = 0;
        for (int c = 0; c < dh; ++c) s += double(q[i * d + h * dh + c]) * k[j * d + h * dh + c];
        p[j] = 0.5 * s;
        max = std::max(max, p[j]);
      }
      for (double& x : p) sum += (x = std::exp(x - max));
      for (int c = 0; c < dh; ++c) {
        double o = 0;
        for (int j = 0; j < m; ++j) o += p[j] / sum * v[j * d + h * dh + c];
        ASSERT_NEAR(out[i * d + h * dh + c], o, 1e-4) << h << " " << i << " " << c;
      }
    }
  }
}

}  // namespace
}  // namespace vigil
