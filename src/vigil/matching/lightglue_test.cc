#include "vigil/matching/lightglue.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>

#include "vigil/matching/glue_test_util.h"
#include "vigil/util/check.h"

namespace vigil {
namespace {

using glue_testing::FloatVector;
using glue_testing::IntVector;
using glue_testing::LoadPairInputs;
using glue_testing::ReadMat;

std::filesystem::path WeightsPath() {
  return testing::FixturesDir() / "lightglue/lightglue_random_zip.pth";
}

const io::StateDict& FixtureWeights() {
  static const io::StateDict weights = io::LoadTorchCheckpoint(WeightsPath());
  return weights;
}

LightGlueOptions FullOptions() {
  LightGlueOptions options;
  options.depth_confidence = -1;
  options.width_confidence = -1;
  return options;
}

void ExpectScoresNear(const std::vector<float>& ours, const std::vector<float>& want,
                      const std::string& what) {
  ASSERT_EQ(ours.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(ours[i], want[i], 1e-4) << what << " " << i;
}

class LightGlueFixture : public ::testing::TestWithParam<std::string> {};

// Depth/width confidence off: everything the reference stores must match (issue 5 acceptance).
TEST_P(LightGlueFixture, FullMatchesReference) {
  const std::string pair = GetParam();
  const auto expected_path = testing::FixturesDir() / "lightglue" / (pair + "_full.yml.gz");
  VIGIL_REQUIRE_FILE(WeightsPath());
  VIGIL_REQUIRE_FILE(expected_path);
  static const LightGlueNetwork net(FixtureWeights(), FullOptions(), 2);
  const auto in = LoadPairInputs(pair);
  const LightGlueOutput out = net.Run(in.features0, in.features1);
  cv::FileStorage fs(expected_path.string(), cv::FileStorage::READ);

  EXPECT_EQ(out.stop, 3);
  EXPECT_TRUE(out.prune0.empty());
  EXPECT_EQ(out.matches.matches0, IntVector(ReadMat(fs, "matches0")));
  EXPECT_EQ(out.matches.matches1, IntVector(ReadMat(fs, "matches1")));
  ExpectScoresNear(out.scores0, FloatVector(ReadMat(fs, "matching_scores0")), "scores0");
  ExpectScoresNear(out.scores1, FloatVector(ReadMat(fs, "matching_scores1")), "scores1");

  glue_testing::ExpectLogAssignmentMatches(out.log_assignment, in.features0.size(),
                                           in.features1.size(), fs);
}

// Default adaptive settings (0.95 / 0.99): same stop layer, same pruning, same matches.
TEST_P(LightGlueFixture, AdaptiveMatchesReference) {
  const std::string pair = GetParam();
  const auto expected_path = testing::FixturesDir() / "lightglue" / (pair + "_adaptive.yml.gz");
  VIGIL_REQUIRE_FILE(WeightsPath());
  VIGIL_REQUIRE_FILE(expected_path);
  static const LightGlueNetwork net(FixtureWeights(), LightGlueOptions{}, 2);
  const auto in = LoadPairInputs(pair);
  const LightGlueOutput out = net.Run(in.features0, in.features1);
  cv::FileStorage fs(expected_path.string(), cv::FileStorage::READ);
  EXPECT_EQ(out.stop, static_cast<int>(fs["stop"].real()));
  EXPECT_EQ(out.prune0, IntVector(ReadMat(fs, "prune0")));
  EXPECT_EQ(out.prune1, IntVector(ReadMat(fs, "prune1")));
  EXPECT_EQ(out.matches.matches0, IntVector(ReadMat(fs, "matches0")));
  ExpectScoresNear(out.scores0, FloatVector(ReadMat(fs, "matching_scores0")), "scores0");
}

INSTANTIATE_TEST_SUITE_P(FixturePairs, LightGlueFixture,
                         ::testing::ValuesIn(glue_testing::FixturePairs()));

// Sets every value of a loaded tensor (shape kept).
void Fill(io::StateDict* w, const std::string& key, float value) {
  auto& t = w->GetMutable(key);
  std::fill(t.data.begin(), t.data.end(), value);
}

// The steered variants of fixtures/README.md ("adaptive variants"), built by editing tensors.
TEST(LightGlue, EarlyExitMatchesReference) {
  const auto expected_path = testing::FixturesDir() / "lightglue/synth0_synth1_earlyexit.yml.gz";
  VIGIL_REQUIRE_FILE(WeightsPath());
  VIGIL_REQUIRE_FILE(expected_path);
  io::StateDict w = FixtureWeights();
  Fill(&w, "token_confidence.0.token.0.bias", 10.f);
  auto& proj = w.GetMutable("log_assignment.0.final_proj.weight");
  const int64_t dim = proj.shape[0];
  std::fill(proj.data.begin(), proj.data.end(), 0.f);
  for (int64_t i = 0; i < dim; ++i) proj.data[i * dim + i] = 24.f;
  Fill(&w, "log_assignment.0.final_proj.bias", 0.f);
  Fill(&w, "log_assignment.0.matchability.bias", 4.f);
  const LightGlueNetwork net(w, LightGlueOptions{}, 2);
  const auto in = LoadPairInputs("synth0_synth1");
  const auto out = net.Run(in.features0, in.features1);
  cv::FileStorage fs(expected_path.string(), cv::FileStorage::READ);
  EXPECT_EQ(out.stop, 1);
  EXPECT_EQ(out.stop, static_cast<int>(fs["stop"].real()));
  EXPECT_EQ(out.matches.num_matches(), 609);
  EXPECT_EQ(out.matches.matches0, IntVector(ReadMat(fs, "matches0")));
  EXPECT_EQ(out.matches.matches1, IntVector(ReadMat(fs, "matches1")));
  EXPECT_EQ(out.prune0, IntVector(ReadMat(fs, "prune0")));
  EXPECT_EQ(out.prune1, IntVector(ReadMat(fs, "prune1")));
  ExpectScoresNear(out.scores0, FloatVector(ReadMat(fs, "matching_scores0")), "scores0");
  ExpectScoresNear(out.scores1, FloatVector(ReadMat(fs, "matching_scores1")), "scores1");
}

TEST(LightGlue, PruningMatchesReference) {
  const auto expected_path = testing::FixturesDir() / "lightglue/synth0_synth1_pruning.yml.gz";
  VIGIL_REQUIRE_FILE(WeightsPath());
  VIGIL_REQUIRE_FILE(expected_path);
  cv::FileStorage fs(expected_path.string(), cv::FileStorage::READ);
  const auto u = FloatVector(ReadMat(fs, "pruning_direction"));
  io::StateDict w = FixtureWeights();
  for (int i = 0; i < 2; ++i) {
    const std::string t = "token_confidence." + std::to_string(i) + ".token.0";
    const std::string a = "log_assignment." + std::to_string(i) + ".matchability";
    auto& tw = w.GetMutable(t + ".weight");
    auto& aw = w.GetMutable(a + ".weight");
    ASSERT_EQ(tw.data.size(), u.size());
    for (size_t k = 0; k < u.size(); ++k) {
      tw.data[k] = -40.f * u[k];
      aw.data[k] = 40.f * u[k];
    }
    Fill(&w, t + ".bias", 0.f);
    Fill(&w, a + ".bias", 0.f);
  }
  const LightGlueNetwork net(w, LightGlueOptions{}, 2);
  const auto in = LoadPairInputs("synth0_synth1");
  const auto out = net.Run(in.features0, in.features1);
  EXPECT_EQ(out.stop, 3);
  const auto prune0 = IntVector(ReadMat(fs, "prune0"));
  EXPECT_EQ(std::count(prune0.begin(), prune0.end(), 1), 34);  // the README's numbers
  EXPECT_EQ(std::count(prune0.begin(), prune0.end(), 2), 4);
  EXPECT_EQ(out.prune0, prune0);
  EXPECT_EQ(out.prune1, IntVector(ReadMat(fs, "prune1")));
  EXPECT_EQ(out.matches.num_matches(), 576);
  EXPECT_EQ(out.matches.matches0, IntVector(ReadMat(fs, "matches0")));
  EXPECT_EQ(out.matches.matches1, IntVector(ReadMat(fs, "matches1")));
  ExpectScoresNear(out.scores0, FloatVector(ReadMat(fs, "matching_scores0")), "scores0");
  ExpectScoresNear(out.scores1, FloatVector(ReadMat(fs, "matching_scores1")), "scores1");
  // Pruned keypoints are never matched; matches refer to the original keypoint order.
  for (size_t i = 0; i < prune0.size(); ++i) {
    if (prune0[i] < 3) EXPECT_EQ(out.matches.matches0[i], -1) << i;
  }
}

TEST(LightGlue, ReadsSizesFromCheckpointAndAcceptsLaterKeyNames) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  const LightGlueNetwork net(FixtureWeights(), FullOptions(), 2);
  EXPECT_EQ(net.num_layers(), 3);
  EXPECT_EQ(net.num_heads(), 4);
  EXPECT_EQ(net.descriptor_dim(), 256);
  EXPECT_EQ(net.input_dim(), 256);
  // The same weights under the later naming, "matcher." prefix and all.
  std::map<std::string, io::CheckpointTensor> renamed;
  for (const auto& [key, tensor] : FixtureWeights().entries()) {
    std::string k = key;
    for (const std::string block : {"self_attn.", "cross_attn."}) {
      if (k.rfind(block, 0) == 0) {
        const size_t dot = k.find('.', block.size());
        k = "transformers." + k.substr(block.size(), dot - block.size()) + "." +
            block.substr(0, block.size() - 1) + k.substr(dot);
      }
    }
    renamed["matcher." + k] = tensor;
  }
  ASSERT_TRUE(renamed.count("matcher.transformers.1.cross_attn.to_qk.weight"));
  const LightGlueNetwork renamed_net(io::StateDict("renamed", renamed), FullOptions(), 2);
  const auto in = LoadPairInputs("freiburg0_freiburg0s");
  const auto a = net.Run(in.features0, in.features1);
  const auto b = renamed_net.Run(in.features0, in.features1);
  // Same weights at other addresses: equal up to summation order (Eigen peels unaligned heads).
  glue_testing::ExpectSameOutput(a, b);
}

TEST(LightGlue, ReportsPrecisionRecallOnSynthPair) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  const auto in = LoadPairInputs("synth0_synth1");
  for (const bool adaptive : {false, true}) {
    const LightGlueNetwork net(FixtureWeights(), adaptive ? LightGlueOptions{} : FullOptions(), 2);
    const auto out = net.Run(in.features0, in.features1);
    const auto pr = glue_testing::Score(out.matches.matches0, in.gt_matches0);
    std::printf("[ lightglue %s synth0_synth1 ] precision %.4f recall %.4f (%d/%d correct)\n",
                adaptive ? "adaptive" : "full", pr.precision, pr.recall, pr.correct, pr.predicted);
    RecordProperty(adaptive ? "adaptive_precision" : "full_precision", std::to_string(pr.precision));
    RecordProperty(adaptive ? "adaptive_recall" : "full_recall", std::to_string(pr.recall));
    // Every predicted match is a pair of keypoint indices in range and mutually consistent.
    for (size_t i = 0; i < out.matches.matches0.size(); ++i) {
      const int j = out.matches.matches0[i];
      if (j >= 0) EXPECT_EQ(out.matches.matches1[j], static_cast<int>(i));
    }
  }
}

TEST(LightGlue, EmptyTinyAndLargeInputsDoNotCrash) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  const LightGlueNetwork net(FixtureWeights(), LightGlueOptions{}, 2);
  const Features none = glue_testing::RandomFeatures(0, 256, 1);
  const Features one = glue_testing::RandomFeatures(1, 256, 2);
  const Features many = glue_testing::RandomFeatures(300, 256, 3);
  for (const auto& [a, b] : {std::pair{&none, &none}, {&none, &many}, {&many, &none}}) {
    const auto out = net.Run(*a, *b);
    EXPECT_EQ(out.matches.matches0, std::vector<int>(a->size(), -1));
    EXPECT_EQ(out.matches.matches1, std::vector<int>(b->size(), -1));
  }
  for (const auto& [a, b] : {std::pair{&one, &many}, {&many, &one}, {&one, &one}}) {
    const auto out = net.Run(*a, *b);
    EXPECT_LE(out.matches.num_matches(), 1);
    for (float c : out.matches.confidence0) EXPECT_TRUE(c >= 0.f && c <= 1.f);
  }
  const Features big = glue_testing::RandomFeatures(4000, 256, 4);
  const Features small = glue_testing::RandomFeatures(400, 256, 5);
  const auto out = net.Run(big, small);
  ASSERT_EQ(out.matches.matches0.size(), 4000u);
  for (float z : out.log_assignment) ASSERT_TRUE(std::isfinite(z));
}

TEST(LightGlue, WrongDescriptorSizeIsOneClearError) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  const LightGlueNetwork net(FixtureWeights(), LightGlueOptions{}, 2);
  const Features f128 = glue_testing::RandomFeatures(10, 128, 6);
  try {
    net.Run(f128, f128);
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expect 256-d"), std::string::npos) << e.what();
  }
}

// ALIKED/DISK checkpoints carry an input projection (128 -> 256): input_dim comes from it, and
// 128-d descriptors run while 256-d ones are refused.
TEST(LightGlue, InputProjectionSetsDescriptorSize) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  std::map<std::string, io::CheckpointTensor> tensors = FixtureWeights().entries();
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-0.09f, 0.09f);
  io::CheckpointTensor w, b;
  w.tensor = nn::Tensor({256, 128});
  b.tensor = nn::Tensor({256});
  for (float& v : w.tensor.data) v = u(rng);
  for (float& v : b.tensor.data) v = u(rng);
  tensors["input_proj.weight"] = w;
  tensors["input_proj.bias"] = b;
  const LightGlueNetwork net(io::StateDict("with input_proj", tensors), LightGlueOptions{}, 2);
  EXPECT_EQ(net.input_dim(), 128);
  EXPECT_EQ(net.descriptor_dim(), 256);
  const Features a = glue_testing::RandomFeatures(200, 128, 10);
  const Features b128 = glue_testing::RandomFeatures(150, 128, 11);
  const auto out = net.Run(a, b128);
  EXPECT_EQ(out.matches.matches0.size(), 200u);
  const Features f256 = glue_testing::RandomFeatures(20, 256, 12);
  EXPECT_THROW(net.Run(f256, f256), Error);
}

// Splitting rows/columns over threads must not change the result beyond summation order.
TEST(LightGlue, ThreadCountDoesNotChangeResult) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  const Features a = glue_testing::RandomFeatures(333, 256, 20);
  const Features b = glue_testing::RandomFeatures(271, 256, 21);
  const auto one = LightGlueNetwork(FixtureWeights(), FullOptions(), 1).Run(a, b);
  const auto three = LightGlueNetwork(FixtureWeights(), FullOptions(), 3).Run(a, b);
  glue_testing::ExpectSameOutput(one, three);
}

// Without explicit weights the matcher looks up the official file of the features' extractor
// (hloc's convention) on the search path, and names the file it wanted when it is absent.
TEST(LightGlue, FindsOfficialWeightsForTheExtractor) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  const auto models = testing::MakeTempDir("lightglue_models");
  std::filesystem::create_directories(models / "lightglue");
  std::filesystem::copy_file(WeightsPath(), models / "lightglue/superpoint_lightglue.pth");
  const testing::ScopedEnv env("VIGIL_MODELS", models.string());
  MatcherOptions options;
  options.type = "lightglue";
  const auto in = LoadPairInputs("freiburg0_freiburg0s");
  const Matches m = Matcher::Create(options)->Match(in.features0, in.features1);
  const LightGlueNetwork net(FixtureWeights(), LightGlueOptions{}, 2);
  EXPECT_EQ(m.matches0, net.Run(in.features0, in.features1).matches.matches0);
  Features aliked = glue_testing::RandomFeatures(5, 128, 1);
  aliked.extractor = "aliked-n16";
  try {
    Matcher::Create(options)->Match(aliked, aliked);
    ADD_FAILURE() << "expected vigil::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("aliked_lightglue.pth"), std::string::npos) << e.what();
  }
}

TEST(LightGlue, FactoryMatchesNetworkAndThresholdContract) {
  VIGIL_REQUIRE_FILE(WeightsPath());
  MatcherOptions options;
  options.type = "lightglue";
  options.lightglue.weights = WeightsPath().string();
  const auto in = LoadPairInputs("scannet0_scannet1");
  const Matches m = Matcher::Create(options)->Match(in.features0, in.features1);
  const LightGlueNetwork net(FixtureWeights(), LightGlueOptions{}, 2);
  EXPECT_EQ(m.matches0, net.Run(in.features0, in.features1).matches.matches0);
  options.lightglue.filter_threshold = 0.f;
  const Matches all = Matcher::Create(options)->Match(in.features0, in.features1);
  EXPECT_EQ(FilterMatchesByConfidence(all, 0.1f).matches0, m.matches0);
}

}  // namespace
}  // namespace vigil
