#include "vigil/retrieval/place_descriptor.h"

#include <cmath>
#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/retrieval/reference_selector.h"
#include "vigil/util/check.h"
#include "vigil/util/testing.h"

namespace vigil::retrieval {
namespace {
namespace fs = std::filesystem;

fs::path ModelFile() {
  return testing::ModelsDir() / "mobilenet_v2" / "mobilenet_v2_1.0_224_spade.onnx";
}
fs::path Freiburg() { return testing::DataDir() / "changes-freiburg"; }

#define REQUIRE_MODEL_AND_DATA()          \
  do {                                    \
    VIGIL_REQUIRE_FILE(ModelFile());      \
    VIGIL_REQUIRE_FILE(Freiburg() / "pairs.csv"); \
  } while (0)

PlaceDescriptorOptions ModelOptions() {
  PlaceDescriptorOptions options;
  options.model = ModelFile().string();
  return options;
}

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  return DescriptorSimilarity(a, b);
}

// The reference frames of changes-freiburg, in recording order (file names sort by time).
std::vector<fs::path> FreiburgReferences() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(Freiburg() / "reference")) {
    if (entry.path().extension() == ".png") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(GemPool, MatchesTheGeneralisedMeanPerChannel) {
  // 4 pixels x 2 channels; channel 1 has a negative value, clamped to eps (~0).
  const std::vector<float> data = {1, 2, 2, -1, 3, 0, 4, 2};
  const std::vector<float> p1 = GemPool(data.data(), 4, 2, 1.0);
  EXPECT_NEAR(p1[0], (1 + 2 + 3 + 4) / 4.0, 1e-5);
  EXPECT_NEAR(p1[1], (2 + 0 + 0 + 2) / 4.0, 1e-5);
  const std::vector<float> p3 = GemPool(data.data(), 4, 2, 3.0);
  EXPECT_NEAR(p3[0], std::cbrt((1 + 8 + 27 + 64) / 4.0), 1e-5);
  EXPECT_NEAR(p3[1], std::cbrt((8 + 0 + 0 + 8) / 4.0), 1e-5);
  // p -> inf tends to max pooling: within 4^(1/p) of the max.
  const std::vector<float> p64 = GemPool(data.data(), 4, 2, 64.0);
  EXPECT_LE(p64[0], 4.0f);
  EXPECT_GE(p64[0], 4.0 / std::pow(4.0, 1 / 64.0) - 1e-5);
  // The general power path agrees with the p = 3 shortcut.
  const std::vector<float> p3b = GemPool(data.data(), 4, 2, 3.0 + 1e-9);
  EXPECT_NEAR(p3b[0], p3[0], 1e-5);
}

// Without shrinkage, PCA whitening is affine-invariant: learned on samples mapped by any
// invertible A, it gives the same cosines between mapped descriptors as learned on the originals
// (the whitened coordinates differ by a rotation). Checked with more samples than dimensions
// (the covariance path) and fewer (the Gram path, within the samples' span).
TEST(PcaWhitening, CosinesAreInvariantToALinearMapOfTheData) {
  for (const auto& [n, d] : {std::pair<int, int>{40, 5}, std::pair<int, int>{6, 12}}) {
    std::mt19937 rng(42 + n);
    std::normal_distribution<float> normal;
    std::vector<std::vector<float>> samples(n, std::vector<float>(d));
    for (auto& s : samples) {
      for (int c = 0; c < d; ++c) s[c] = normal(rng) * static_cast<float>(c + 1) + 3.f;
    }
    std::vector<std::vector<float>> a(d, std::vector<float>(d));  // a random, well-conditioned map
    for (int r = 0; r < d; ++r) {
      for (int c = 0; c < d; ++c) a[r][c] = (r == c ? 2.f : 0.f) + 0.3f * normal(rng);
    }
    auto map = [&](const std::vector<float>& x) {
      std::vector<float> y(d, 0.f);
      for (int r = 0; r < d; ++r) {
        for (int c = 0; c < d; ++c) y[r] += a[r][c] * x[c];
      }
      return y;
    };
    std::vector<std::vector<float>> mapped;
    for (const auto& s : samples) mapped.push_back(map(s));
    const PcaWhitening w = PcaWhitening::Learn(samples, 0.0);
    const PcaWhitening wa = PcaWhitening::Learn(mapped, 0.0);
    EXPECT_EQ(w.dims(), std::min(d, n - 1)) << "n " << n << " d " << d;
    EXPECT_EQ(wa.dims(), w.dims());
    // Test points: in the samples' span for the Gram case (affine combinations of samples).
    for (int t = 0; t < 5; ++t) {
      std::vector<float> x(d, 0.f), y(d, 0.f);
      std::uniform_int_distribution<int> pick(0, n - 1);
      for (int k = 0; k < 3; ++k) {
        const auto& p = samples[pick(rng)];
        const auto& q = samples[pick(rng)];
        for (int c = 0; c < d; ++c) {
          x[c] += p[c] / 3;
          y[c] += q[c] / 3;
        }
      }
      const double cos = DescriptorSimilarity(w.Apply(x), w.Apply(y));
      const double cos_mapped = DescriptorSimilarity(wa.Apply(map(x)), wa.Apply(map(y)));
      EXPECT_NEAR(cos, cos_mapped, 1e-3) << "n " << n << " d " << d << " point " << t;
      EXPECT_NEAR(DescriptorSimilarity(w.Apply(x), w.Apply(x)), 1.0, 1e-5);
    }
  }
  // Too few samples: nothing learned, descriptors pass through.
  const PcaWhitening none = PcaWhitening::Learn({{1.f, 0.f}, {0.f, 1.f}}, 0.1);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.Apply({0.6f, 0.8f}), (std::vector<float>{0.6f, 0.8f}));
}

TEST(PlaceInputSize, KeepsTheAspectRatioOnTheStrideGrid) {
  EXPECT_EQ(PlaceInputSize({640, 480}, 256), cv::Size(352, 256));  // 341.3 -> 11 * 32
  EXPECT_EQ(PlaceInputSize({480, 640}, 256), cv::Size(256, 352));
  EXPECT_EQ(PlaceInputSize({640, 640}, 224), cv::Size(224, 224));
  EXPECT_EQ(PlaceInputSize({500, 1250}, 224), cv::Size(224, 576));  // 560 -> 18 * 32
  EXPECT_EQ(PlaceInputSize({10, 10}, 32), cv::Size(32, 32));
}

TEST(PlaceDescriptorOptions, CheckNamesTheFieldAndValue) {
  PlaceDescriptorOptions options;
  EXPECT_NO_THROW(options.Check());
  options.gem_p = 0.5;
  std::string message = testing::ErrorOf([&] { options.Check(); });
  EXPECT_NE(message.find("place.gem_p"), std::string::npos) << message;
  EXPECT_NE(message.find("0.5"), std::string::npos) << message;
  options = {};
  options.scales = {1.0, 0.05};
  message = testing::ErrorOf([&] { options.Check(); });
  EXPECT_NE(message.find("place.scales"), std::string::npos) << message;
  EXPECT_NE(message.find("0.05"), std::string::npos) << message;
  options = {};
  options.short_side = 16;
  message = testing::ErrorOf([&] { options.Check(); });
  EXPECT_NE(message.find("place.short_side"), std::string::npos) << message;

  ReferenceSelectorOptions selection;
  selection.appearance_descriptor = "vlad";
  message = testing::ErrorOf([&] { selection.Check(); });
  EXPECT_NE(message.find("appearance_descriptor"), std::string::npos) << message;
  EXPECT_NE(message.find("'vlad'"), std::string::npos) << message;
  // The place options are checked only when they are used.
  selection.appearance_descriptor = "thumbnail";
  selection.place.tap = "";
  EXPECT_NO_THROW(selection.Check());
  selection.appearance_descriptor = "gem";
  message = testing::ErrorOf([&] { selection.Check(); });
  EXPECT_NE(message.find("place.tap"), std::string::npos) << message;
}

TEST(PlaceDescriber, UnitLengthDeterministicAndViewpointTolerant) {
  REQUIRE_MODEL_AND_DATA();
  const std::vector<fs::path> refs = FreiburgReferences();
  ASSERT_EQ(refs.size(), 9u);
  PlaceDescriber describer(ModelOptions());
  EXPECT_EQ(describer.dim(), 1280);  // s32
  const cv::Mat first = io::ReadImage(refs.front());
  const cv::Mat last = io::ReadImage(refs.back());  // 2.4 m further along the path
  const std::vector<float> a = describer.Describe(first);
  ASSERT_EQ(a.size(), 1280u);
  EXPECT_NEAR(Dot(a, a), 1.0, 1e-5);
  EXPECT_EQ(describer.Describe(first), a);  // bit for bit

  // The same view: a 20 % crop (off centre), upscaled back, brighter by a gain and offset.
  const cv::Rect crop(first.cols / 10, first.rows / 20, first.cols * 8 / 10, first.rows * 8 / 10);
  cv::Mat cropped, lit;
  cv::resize(first(crop), cropped, first.size(), 0, 0, cv::INTER_LINEAR);
  cropped.convertTo(lit, -1, 1.15, 12);
  const double same = Dot(a, describer.Describe(lit));
  const double other = Dot(a, describer.Describe(last));
  // Off-the-shelf GeM cosines of ReLU features crowd near 1 (whitening in the selector spreads
  // them), so the margin is stated on the cosine distance: the other view of the same office is
  // at least 1.5x as far as the cropped, relit frame (measured: 0.025 vs 0.012).
  EXPECT_GT(1 - other, 1.5 * (1 - same)) << "same " << same << " other " << other;
  // A PCB scan (another world) is further still.
  const fs::path pcb = testing::DataDir() / "deeppcb-dev" / "reference" / "00041001_temp.jpg";
  if (fs::exists(pcb)) {
    const double stranger = Dot(a, describer.Describe(io::ReadImage(pcb)));
    EXPECT_LT(stranger, other) << "pcb " << stranger << " other " << other;
  }

  // Any input size works (a portrait crop, a gray image).
  cv::Mat gray;
  cv::cvtColor(first(cv::Rect(0, 0, 300, 480)), gray, cv::COLOR_BGR2GRAY);
  EXPECT_NEAR(Dot(describer.Describe(gray), describer.Describe(gray)), 1.0, 1e-5);
}

TEST(PlaceDescriber, MissingModelOrTapIsNamed) {
  PlaceDescriptorOptions options;
  options.model = "/nonexistent/backbone.onnx";
  std::string message = testing::ErrorOf([&] { PlaceDescriber d(options); });
  EXPECT_NE(message.find("/nonexistent/backbone.onnx"), std::string::npos) << message;
  VIGIL_REQUIRE_FILE(ModelFile());
  options = ModelOptions();
  options.tap = "no_such_tap";
  message = testing::ErrorOf([&] { PlaceDescriber d(options); });
  EXPECT_NE(message.find("no_such_tap"), std::string::npos) << message;
}

// changes-freiburg without poses: five reference frames 0.6 m apart (every other one, so that
// the right one is unique) and the real queries paired with them (pairs.csv: viewpoint, blur,
// lighting and the inserted changes); the gem selector ranks the pairs.csv reference first.
TEST(ReferenceSelectorGem, RanksTheRightFreiburgReferenceFirst) {
  REQUIRE_MODEL_AND_DATA();
  const std::vector<fs::path> refs = FreiburgReferences();
  retrieval::Run reference;
  reference.dir = Freiburg() / "reference";
  std::map<std::string, int> index;
  for (size_t i = 0; i < refs.size(); i += 2) {
    index[refs[i].filename().string()] = static_cast<int>(reference.frames.size());
    RunFrame frame;
    frame.image = refs[i];
    reference.frames.push_back(frame);
  }
  ReferenceSelectorOptions options;
  options.use_poses = false;
  options.appearance_descriptor = "gem";
  options.place = ModelOptions();
  ReferenceSelector selector(reference, options);
  EXPECT_EQ(selector.appearance_descriptor(), "gem");
  EXPECT_EQ(selector.fallback_reason(), "");
  std::ifstream pairs(Freiburg() / "pairs.csv");
  std::string line;
  std::getline(pairs, line);  // header
  int tested = 0;
  while (std::getline(pairs, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF
    const size_t comma = line.find(',');
    const std::string query = line.substr(0, comma), ref = line.substr(comma + 1);
    if (query.find("_v0.") == std::string::npos || !index.count(ref)) continue;
    RunFrame frame;
    frame.image = Freiburg() / "query" / query;
    const ReferenceChoice choice = selector.Select(frame, tested);
    EXPECT_EQ(choice.reference_index, index[ref]) << query << ": picked " << choice.reference_index;
    EXPECT_EQ(choice.rule, "appearance");
    EXPECT_EQ(choice.descriptor, "gem");
    ++tested;
  }
  EXPECT_EQ(tested, 4);  // the queries after reference frames 0, 2, 4, 6

  // Descriptors computed elsewhere (a map file) give the same ranking and scores: the
  // whitening is learned from them as from the selector's own.
  AppearanceDescriber describer(options, false);
  std::vector<std::vector<float>> stored;
  for (const RunFrame& f : reference.frames) stored.push_back(describer.Describe(io::ReadImage(f.image)));
  ReferenceSelector from_map(reference, options);
  from_map.SetReferenceDescriptors(stored);
  const cv::Mat query = io::ReadImage(Freiburg() / "query" / "s0_1341847981.726650_v1.png");
  const auto own = selector.RankByAppearance(query, 3);
  const auto set = from_map.RankByAppearance(query, 3);
  ASSERT_EQ(own.size(), 3u);
  ASSERT_EQ(set.size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(own[k].first, set[k].first);
    EXPECT_NEAR(own[k].second, set[k].second, 1e-6);
  }
  EXPECT_EQ(own[0].first, 0);  // its pairs.csv reference, frame 0
}

// Without its model the gem selector still works, on the thumbnail, and says so; descriptors of
// the other kind (a map built with gem) are refused with both sizes named.
TEST(ReferenceSelectorGem, FallsBackToTheThumbnailWithoutAModel) {
  retrieval::Run reference;
  reference.dir = "synthetic";
  cv::Mat images[2] = {cv::Mat(48, 64, CV_8UC1, cv::Scalar(0)), cv::Mat(48, 64, CV_8UC1, cv::Scalar(0))};
  cv::rectangle(images[0], {5, 5}, {30, 30}, cv::Scalar(255), cv::FILLED);
  cv::circle(images[1], {40, 24}, 15, cv::Scalar(200), cv::FILLED);
  for (int i = 0; i < 2; ++i) {
    RunFrame frame;
    frame.image = "r" + std::to_string(i);
    reference.frames.push_back(frame);
  }
  ReferenceSelectorOptions options;
  options.use_poses = false;
  options.appearance_descriptor = "gem";
  options.place.model = "/nonexistent/backbone.onnx";
  EXPECT_NE(testing::ErrorOf([&] { AppearanceDescriber strict(options, false); })
                .find("/nonexistent/backbone.onnx"),
            std::string::npos);
  ReferenceSelector selector(reference, options);
  EXPECT_EQ(selector.appearance_descriptor(), "thumbnail");
  EXPECT_NE(selector.fallback_reason().find("/nonexistent/backbone.onnx"), std::string::npos)
      << selector.fallback_reason();
  const std::string message = testing::ErrorOf(
      [&] { selector.SetReferenceDescriptors({std::vector<float>(576), std::vector<float>(576)}); });
  EXPECT_NE(message.find("576"), std::string::npos) << message;
  EXPECT_NE(message.find("gem descriptor unavailable"), std::string::npos) << message;
  AppearanceDescriber thumbnail(options, true);
  selector.SetReferenceDescriptors({thumbnail.Describe(images[0]), thumbnail.Describe(images[1])});
  RunFrame query;
  query.image = "q";
  const ReferenceChoice choice = selector.Select(query, 0, {}, images[1]);
  EXPECT_EQ(choice.reference_index, 1);
  EXPECT_EQ(choice.descriptor, "thumbnail (gem unavailable)");
}

}  // namespace
}  // namespace vigil::retrieval
